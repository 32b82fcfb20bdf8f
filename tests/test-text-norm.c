/* Unit tests for filter/text-norm: NFKC + case folding, invisible
 * characters, padding collapse, confusable folding per word, sender
 * skeletons, fingerprints and redaction. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "digit-mask-ref.h"
#include "testutil.h"
#include "text-norm.h"

#define XXH_INLINE_ALL
#include <xxhash.h>

static norm_ctx_t *ctx;

static const char *nt(const char *in, unsigned flags)
{
    static char out[4096];
    size_t n = 0;
    int rc = norm_text(ctx, in, strlen(in), out, sizeof out, &n, flags);
    CHECK_EQ_INT(rc, 0);
    CHECK_EQ_INT(n, strlen(out));
    return out;
}

static const char *ns(const char *in)
{
    static char out[64];
    int rc = norm_sender(ctx, in, strlen(in), out, sizeof out, NULL);
    CHECK_EQ_INT(rc, 0);
    return out;
}

/* Snippet of s, whole (room for all of it). */
static const char *red_all(const char *s)
{
    static char out[512];
    norm_redact_digits(s, strlen(s), out, sizeof out);
    return out;
}

/* Fingerprint of s as the verdict engine takes it: of norm_text's output. */
static uint64_t fp_of(const char *s)
{
    char out[1024];
    size_t n = 0;
    CHECK_EQ_INT(norm_text(ctx, s, strlen(s), out, sizeof out, &n, 0), 0);
    return norm_fingerprint(out, n);
}

static size_t utf8_put(char *p, int32_t cp)
{
    return (size_t)utf8proc_encode_char(cp, (utf8proc_uint8_t *)p);
}

/* Issue 3's privacy rule: no digit of a one-time code in the snippet or
 * recoverable from the fingerprint, whatever script writes it. */
static void test_unicode_digits(void)
{
    /* real-world one-time codes, raw text (the snippet) */
    CHECK_EQ_STR(red_all("رمز التحقق ٤٨٢٩١٥"), "رمز التحقق #");            /* Arabic-Indic */
    CHECK_EQ_STR(red_all("کد تایید شما: ۴۸۲۹۱۵"), "کد تایید شما: #");        /* Persian, U+06F0.. */
    CHECK_EQ_STR(red_all("आपका OTP ४८२९१५ है। इसे साझा न करें"), "आपका OTP # है। इसे साझा न करें");
    CHECK_EQ_STR(red_all("Your code: ４８２９１５"), "Your code: #");           /* full-width, raw */
    CHECK_EQ_STR(red_all("รหัส OTP ของคุณคือ ๔๘๒๙๑๕"), "รหัส OTP ของคุณคือ #"); /* Thai */
    CHECK_EQ_STR(red_all("আপনার কোড ৪৮২৯১৫"), "আপনার কোড #");                 /* Bengali */
    CHECK_EQ_STR(red_all("code 𝟒𝟖𝟐𝟗𝟏𝟓 ok"), "code # ok");                   /* mathematical, 4 bytes */
    /* one run whatever the scripts: mixed digits are one '#' */
    CHECK_EQ_STR(red_all("code 12٣٤५६７８𝟗0 end"), "code # end");
    CHECK_EQ_STR(red_all("٤٨ ٢٩-١٥"), "# #-#");
    CHECK_EQ_STR(red_all("٤"), "#");
    /* not digits: numerals that are letters or other numbers (No, Nl), and
     * Arabic letters next to digits keep their bytes */
    CHECK_EQ_STR(red_all("Ⅻ ½ ² ① 十"), "Ⅻ ½ ² ① 十");
    CHECK_EQ_STR(red_all("ك٤ك"), "ك#ك");
    /* invalid UTF-8 around digits: only a whole, valid encoding is a
     * digit; stray bytes stay, and no new character is formed */
    CHECK_EQ_STR(red_all("\xD9٤"), "\xD9#");                  /* lead without its tail, then a digit */
    CHECK_EQ_STR(red_all("\xA4٤\xA4x"), "\xA4#\xA4x");         /* stray continuation bytes */
    CHECK_EQ_STR(red_all("1\x80٢"), "#\x80#");                 /* a stray byte ends a run */
    CHECK_EQ_STR(red_all("x\xC0\xB0y"), "x\xC0\xB0y");         /* overlong '0' is no digit */
    CHECK_EQ_STR(red_all("x\xE0\xA5y"), "x\xE0\xA5y");         /* U+0966 cut short */
    CHECK_EQ_STR(red_all("x\xED\xA0\x80y"), "x\xED\xA0\x80y"); /* a surrogate */
    {
        char out[16];
        /* a lead at the end: cut like any incomplete character */
        CHECK_EQ_INT(norm_redact_digits("code \xD9", 6, out, sizeof out), 5);
        CHECK_EQ_STR(out, "code ");
    }

    /* the fingerprint: normalised text has ASCII digits only (norm_text
     * folds every Nd, NFKC full-width); any code in any script gives the
     * fingerprint of the text with its code masked */
    CHECK(fp_of("رمز التحقق ٤٨٢٩١٥") == fp_of("رمز التحقق ١٢٣٤٥٦"));
    CHECK(fp_of("رمز التحقق ٤٨٢٩١٥") == fp_of("رمز التحقق 482915"));
    CHECK(fp_of("आपका OTP ४८२९१५ है") == fp_of("आपका OTP 000000 है"));
    CHECK(fp_of("Your code: ４８２９１５") == fp_of("your code: 1"));
    /* a 0, 1, 3 or 5 among other digits is a digit too ("١٢3४" reads
     * "1234", no longer "١٢e४"; tests/test-digit-fold.c) */
    CHECK(fp_of("code ١٢4४") == fp_of("code 9"));
    CHECK(fp_of("code ١٢3४") == fp_of("code 9"));
    CHECK(fp_of("رمز التحقق ٤٨٢٩١٥") != fp_of("رمز التحقق"));
    {
        const char *t = "رمز التحقق ٤٨٢٩١٥";
        char out[256];
        size_t n = 0;
        CHECK_EQ_INT(norm_text(ctx, t, strlen(t), out, sizeof out, &n, 0), 0);
        CHECK(strstr(out, "482915") != NULL); /* the Arabic-Indic digits, folded */
        CHECK(norm_fingerprint(out, n) == XXH3_64bits("رمز التحقق #", strlen("رمز التحقق #")));
    }

    /* every code point, against utf8proc's category: at two places in
     * the sixteen-byte steps and in the tail, alone and doubled; so a
     * digit behind a lead byte the fast path does not look at fails here */
    {
        char text[64], want[64], got[64];
        size_t nd = 0;
        for (int32_t cp = 1; cp <= 0x10FFFF; cp++) {
            if (cp >= 0xD800 && cp <= 0xDFFF)
                continue;
            int digit = utf8proc_category(cp) == UTF8PROC_CATEGORY_ND;
            nd += digit;
            size_t pre = (size_t)cp % 23, n = 0, m = 0;
            memset(text, 'a', pre);
            n = pre;
            n += utf8_put(text + n, cp);
            n += utf8_put(text + n, cp);
            memcpy(text + n, "bc", 2);
            n += 2;
            memset(want, 'a', pre);
            m = pre;
            if (digit) {
                want[m++] = '#';
            } else {
                memcpy(want + m, text + pre, n - pre - 2);
                m += n - pre - 2;
            }
            memcpy(want + m, "bc", 2);
            m += 2;
            size_t k = norm_redact_digits(text, n, got, sizeof got);
            CHECK_MSG(k == m && memcmp(got, want, m) == 0, "U+%04X", (unsigned)cp);
            CHECK_MSG(norm_fingerprint(text, n) == XXH3_64bits(want, m), "U+%04X", (unsigned)cp);
        }
        CHECK(nd >= 600); /* the loop ran: Unicode 15.0 has 680 Nd code points */
    }

    /* a digit at the snippet's cap: the '#' of a run that starts before
     * the cut is kept even where the digit's bytes would not fit; a
     * letter that does not fit whole is cut */
    {
        char out[32];
        CHECK_EQ_INT(norm_redact_digits("abcdefgh٤٨٢", 14, out, 10), 9);
        CHECK_EQ_STR(out, "abcdefgh#");
        CHECK_EQ_INT(norm_redact_digits("abcdefgh𝟒", 12, out, 10), 9);
        CHECK_EQ_STR(out, "abcdefgh#");
        CHECK_EQ_INT(norm_redact_digits("abcdefgh٤٨٢", 14, out, 9), 8);
        CHECK_EQ_STR(out, "abcdefgh");
        CHECK_EQ_INT(norm_redact_digits("abcdefghй", 10, out, 10), 8);
        CHECK_EQ_STR(out, "abcdefgh");
        /* the verdict's cap (161): at every offset around it */
        for (size_t pre = 140; pre < 175; pre++) {
            char text[256], snip[161], want[256];
            memset(text, 'x', pre);
            size_t n = pre;
            memcpy(text + n, "٤٨٢٩١٥ ok", 15);
            n += 15;
            size_t m = ref_mask_digits(text, n, want), cut = m < 160 ? m : 160;
            size_t k = norm_redact_digits(text, n, snip, sizeof snip);
            CHECK_MSG(k == cut && memcmp(snip, want, k) == 0, "pre %zu", pre);
            CHECK(ref_no_digit(snip, k));
        }
    }

    /* random text of pieces (digits of many scripts, letters, emoji, stray
     * and cut bytes), up to past the fingerprint's 1024-byte pieces,
     * exact-size copies, every cap up to 300 and 161: against the
     * reference */
    {
        static const char *const pieces[] = {
            "0", "7", "\xD9\xA4", "\xDB\xB5", "\xDF\x81", "\xE0\xA5\xAA", "\xE0\xB9\x94",
            "\xEF\xBC\x98", "\xF0\x9D\x9F\x92", "\xEA\xA3\x93", "\xE1\x81\x85", "a", "Z", " ",
            "\xD0\xBA", "\xD1\x8F", "\xD9\x83", "\xDB\x8C", "\xE4\xB8\xAD", "\xF0\x9F\x98\x80",
            "\x80", "\xD9", "\xE0\xA5", "\xF0\x9D\x9F", "\xFF", "#", "\xC2\xB2", "-",
        };
        static char text[3000], want[3000], got[3000];
        uint32_t seed = 77;
        for (int round = 0; round < 2000; round++) {
            size_t len = 0, target = (size_t)round * 7 % 2900;
            while (len < target) {
                seed = seed * 1103515245u + 12345u;
                const char *p = pieces[(seed >> 16) % SG_ARRAY_LEN(pieces)];
                size_t pl = strlen(p);
                memcpy(text + len, p, pl);
                len += pl;
            }
            size_t m = ref_mask_digits(text, len, want);
            char *exact = malloc(len ? len : 1);
            CHECK(exact != NULL);
            if (!exact)
                break;
            memcpy(exact, text, len);
            CHECK_MSG(norm_fingerprint(exact, len) == XXH3_64bits(want, m), "round %d", round);
            size_t caps[2] = {1 + (size_t)round % 300, 161};
            for (int c = 0; c < 2; c++) {
                size_t cap = caps[c], k = norm_redact_digits(exact, len, got, cap);
                size_t cut = m < cap - 1 ? m : cap - 1;
                CHECK_MSG(k <= cut && cut - k < 4 && memcmp(got, want, k) == 0 && got[k] == '\0',
                          "round %d cap %zu", round, cap);
                CHECK(ref_no_digit(got, k));
            }
            free(exact);
        }
    }
}

/* in[0..len) through the fast paths, with and without NORM_FINGERPRINT,
 * against NORM_SLOW_PATH: the same result and output; the fingerprint
 * kept is norm_fingerprint's of that output; a case-only text kept its
 * length.  The input is an exact-size copy (a read past it is a sanitizer
 * error), the output buffer as roomy as the verdict engine's. */
static unsigned block_texts;

static void same_as_slow(const char *in, size_t len)
{
    static char a[8192], b[8192], d[8192];
    char *exact = malloc(len ? len : 1);
    CHECK(exact != NULL);
    if (!exact)
        return;
    memcpy(exact, in, len);
    size_t na = 0, nb = 0, nd = 0;
    int ra = norm_text(ctx, exact, len, a, sizeof a, &na, NORM_FINGERPRINT);
    uint64_t fp = norm_last_fingerprint(ctx);
    int co = norm_last_case_only(ctx);
    int rd = norm_text(ctx, exact, len, d, sizeof d, &nd, 0);
    CHECK(norm_last_case_only(ctx) == co);
    int rb = norm_text(ctx, exact, len, b, sizeof b, &nb, NORM_SLOW_PATH);
    CHECK_MSG(ra == rb && na == nb && memcmp(a, b, na) == 0 && a[na] == '\0',
              "input \"%.*s\": fast \"%s\" (%d), general \"%s\" (%d)", (int)len, in, a, ra, b, rb);
    CHECK_MSG(rd == ra && nd == na && memcmp(a, d, na) == 0, "input \"%.*s\": NORM_FINGERPRINT changed the output",
              (int)len, in);
    CHECK_MSG(fp == norm_fingerprint(a, na), "input \"%.*s\": kept fingerprint", (int)len, in);
    CHECK(!co || na == len);
    free(exact);
    block_texts++;
}

/* The block pass (texts of 16 bytes and more: sixteen bytes a step, the
 * last step overlapping the one before, then the masks 64 bytes at a
 * time) against the general pipeline, at every place a step or a mask
 * word can cut: two-byte letters across steps, the X bytes (Latin-1
 * letters, Ё ё, £ € ₽) and what sends a text elsewhere (zero-width
 * characters, controls, doubled, leading and trailing spaces) at the
 * edges, digits in words ("0IWI", "fr33"), padding ("W-I-N", "З А Й М")
 * and folds that change a word's length ("зaйм", Latin a) before and
 * inside a padded stretch. */
static void test_block_pass(void)
{
    static const char *const tokens[] = {
        "0IWI", "W-I-N", "З А Й М", "з а й м до", "fr33", "KL341", "зaйм", "кapту", "ЮMoney", "999р",
        "3айм", "Ж", "Ёлка", "ещё", "É", "café", "£5", "€10", "₽", "\xE2\x80\x8B", "за\xE2\x80\x8Bйм",
        "  ", " ", "\t", "\n", "\x01", "Я", "я1", "1я", "a b c", "1 2 3", "I am", "w1n", "\xD0", "\x80",
        "\xD1\x80", "\xC3\x97", "\xC3\x9F", "ß", "\xD0\x81\xD1\x91", "ЁQQ", "нa"};
    static const char *const fillers[] = {"abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz0123456789",
                                          "абвгдежзийклмнопрстуфхцчшщъыьэюя АБВГДЕЖЗИЙКЛМНОПРСТУФХЦЧШЩЪЫЬЭЮЯ",
                                          "word, Слово. 12 ab вг 3 x-y.ru/Z9 ",
                                          "                                                                "};
    char text[512];
    for (size_t t = 0; t < SG_ARRAY_LEN(tokens); t++)
        for (size_t f = 0; f < SG_ARRAY_LEN(fillers); f++)
            for (size_t pre = 0; pre <= 40; pre++)
                for (size_t post = 0; post <= 34; post += 1 + post / 8) {
                    /* pre bytes of filler (a two-byte letter kept whole), the
                     * token, post bytes of filler */
                    size_t n = 0, fl = strlen(fillers[f]), tl = strlen(tokens[t]);
                    size_t p = pre < fl ? pre : fl;
                    while (p > 0 && ((unsigned char)fillers[f][p] & 0xC0) == 0x80)
                        p--;
                    memcpy(text, fillers[f], p);
                    n = p;
                    memcpy(text + n, tokens[t], tl);
                    n += tl;
                    size_t q = post < fl ? post : fl;
                    while (q > 0 && ((unsigned char)fillers[(f + 1) % 4][q] & 0xC0) == 0x80)
                        q--;
                    memcpy(text + n, fillers[(f + 1) % 4], q);
                    n += q;
                    same_as_slow(text, n);
                }
    /* exact lengths around the steps and the mask words: ASCII, Cyrillic,
     * and a two-byte letter ending at byte 15, 16, 17, 63, 64, 65 */
    for (size_t len = 14; len <= 70; len++) {
        char a[80], c[160];
        for (size_t i = 0; i < len; i++)
            a[i] = (char)(i % 7 == 6 ? ' ' : 'A' + i % 26);
        same_as_slow(a, len);
        for (size_t i = 0; i + 1 < len; i += 2) {
            c[i] = (char)0xD0;
            c[i + 1] = (char)(i % 14 == 12 ? 0x81 : 0x90 + i % 48); /* А-п, Ё now and then */
        }
        same_as_slow(c, len & ~(size_t)1);
        memset(a, 'x', len);
        memcpy(a + len - 2, "\xD0\x96", 2);                   /* Ж at the end */
        same_as_slow(a, len);
        memcpy(a + len / 2 - 1, "\xD0\xAF", 2);               /* Я across the middle */
        same_as_slow(a, len);
    }
    /* more folds that change a word's length than the block pass moves
     * text for (BLOCKS_RESIZE, 16): the first ones done, then the one pass */
    for (size_t words = 1; words <= 40; words++) {
        char t[400];
        size_t n = 0;
        for (size_t i = 0; i < words; i++) {
            memcpy(t + n, i % 3 ? "нa " : "кapтa ", i % 3 ? 4 : 9); /* Latin a */
            n += i % 3 ? 4 : 9;
        }
        memcpy(t + n, "end of text", 11);
        same_as_slow(t, n + 11);
    }
    /* random texts of the pieces the block pass meets, 16 to ~300 bytes */
    {
        static const char *const piece[] = {
            "a", "B", "z", "Q", "0", "1", "3", "5", "9", " ", " ", " ", ".", ",", "-", "!", ":",
            "/", "а", "Б", "я", "Я", "р", "Р", "ж", "Ё", "ё", "é", "É", "×", "£", "€", "₽",
            "з а й м", "W I N", "www.x-y.ru", "fr33", "KL341", "\xE2\x80\x8B", "  ", "\t", "ß"};
        uint32_t seed = 77;
        for (int round = 0; round < 20000; round++) {
            size_t n = 0, want = 16 + (size_t)round % 280;
            int plain = round % 4 != 0; /* three in four without the pieces that send the text elsewhere */
            while (n < want) {
                seed = seed * 1103515245u + 12345u;
                size_t k = (seed >> 16) % SG_ARRAY_LEN(piece);
                const char *pc = piece[k];
                if (plain && (!strcmp(pc, "\xE2\x80\x8B") || !strcmp(pc, "  ") || !strcmp(pc, "\t") ||
                              !strcmp(pc, "ß") || !strcmp(pc, "×")))
                    continue;
                size_t pl = strlen(pc);
                memcpy(text + n, pc, pl);
                n += pl;
            }
            if (plain && text[0] == ' ')
                text[0] = 'x';
            if (plain && text[n - 1] == ' ')
                text[n - 1] = 'x';
            same_as_slow(text, n);
        }
    }
    CHECK(block_texts > 100000);
}

int main(void)
{
    ctx = norm_ctx_new(0);
    CHECK(ctx != NULL);

    /* case folding, Cyrillic included; NFKC */
    CHECK_EQ_STR(nt("ЗАЙМ Без Отказа", 0), "займ без отказа");
    CHECK_EQ_STR(nt("ＦＲＥＥ ｐｒｉｚｅ", 0), "free prize");
    CHECK_EQ_STR(nt("\xF0\x9D\x90\x85\xF0\x9D\x90\x91\xF0\x9D\x90\x84\xF0\x9D\x90\x84", 0), "free"); /* math bold */
    CHECK_EQ_STR(nt("Ёлка", 0), "елка");
    /* invisible and control characters, white space runs */
    CHECK_EQ_STR(nt("за\xE2\x80\x8Bйм", 0), "займ");             /* ZWSP */
    CHECK_EQ_STR(nt("fr\xC2\xAD" "ee", 0), "free");                 /* soft hyphen */
    CHECK_EQ_STR(nt("win\xE2\x80\x8D\xE2\x80\x8Cner", 0), "winner");
    CHECK_EQ_STR(nt("  a\t\n\r  b\xC2\xA0\xC2\xA0" "c  ", NORM_NO_PADDING), "a b c");
    CHECK_EQ_STR(nt("bad\xFF\xFEutf8", 0), "badutf8");
    /* combining overlays used to disguise words */
    CHECK_EQ_STR(nt("з\xCC\xB6а\xCC\xB6й\xCC\xB6м\xCC\xB6", 0), "займ");
    /* padding collapse */
    CHECK_EQ_STR(nt("З А Й М до 30000", 0), "займ до 30000");
    CHECK_EQ_STR(nt("W-I-N a prize", 0), "win a prize");
    CHECK_EQ_STR(nt("call F.R.E.E now", 0), "call free now");
    CHECK_EQ_STR(nt("I am ok", 0), "i am ok");       /* two single letters: not padding */
    CHECK_EQ_STR(nt("1 2 3 go", 0), "1 2 3 go");     /* digits alone: not padding */
    /* confusables: mixed scripts fold per word */
    CHECK_EQ_STR(nt("зaйм", 0), "займ");       /* Latin a in a Russian word */
    CHECK_EQ_STR(nt("3AЙM", 0), "займ");       /* digit 3 and Latin A, M */
    CHECK_EQ_STR(nt("frее", 0), "free");       /* Cyrillic е in an English word */
    CHECK_EQ_STR(nt("fr33 c4sh", 0), "free c4sh");
    CHECK_EQ_STR(nt("w1nner", 0), "winner");
    CHECK_EQ_STR(nt("code 123456", 0), "code 123456"); /* numbers untouched */
    CHECK_EQ_STR(nt("150ppm 1st 3pm box95qu kl341", 0), "150ppm 1st 3pm box95qu kl341");
    CHECK_EQ_STR(nt("hell0 m0ney", 0), "hello money");
    CHECK_EQ_STR(nt("кредитов", 0), "кредитов");
    /* patterns fold the same way as text */
    CHECK_EQ_STR(nt("кредит(ы|ов)?\\s+без", NORM_PATTERN), "кредит(ы|ов)?\\s+без");
    CHECK_EQ_STR(nt("ЗАЙМ.{0,20}БЕЗ\\s+ОТКАЗ", NORM_PATTERN), "займ.{0,20}без\\s+отказ");
    CHECK_EQ_STR(nt("\\bFR[E3]E\\b", NORM_PATTERN), "\\bfr[e3]e\\b");
    CHECK_EQ_STR(nt("\\x{41}Bc", NORM_PATTERN), "\\x{41}bc");
    CHECK_EQ_STR(nt("[^\\p{L}\\p{N}]ЗАЙМ[А-Я\\d]", NORM_PATTERN), "[^\\p{L}\\p{N}]займ[а-я\\d]");
    /* a word in one script keeps it; a mixed one folds, in text and in
     * patterns, class members included */
    CHECK_EQ_STR(nt("карта картУ cop", 0), "карта карту cop");
    CHECK_EQ_STR(nt("кaртa", 0), "карта");
    CHECK_EQ_STR(nt("кaрт[ау]", NORM_PATTERN), "карт[ау]");
    CHECK_EQ_STR(nt("сard", 0), "card");
    CHECK_EQ_STR(nt("(смс|sms|сообщение) кредит(ы|ов)", NORM_PATTERN), "(смс|sms|сообщение) кредит(ы|ов)");
    CHECK_EQ_STR(nt("(?i)FREE", NORM_PATTERN), "(?i)free");

    /* sender skeletons */
    CHECK_EQ_STR(ns("QIWI"), "oiwi");
    CHECK_EQ_STR(ns("QlWI"), "oiwi");
    CHECK_EQ_STR(ns("QIWl"), "oiwi");
    CHECK_EQ_STR(ns("0IWI"), "oiwi");
    CHECK_EQ_STR(ns("QIW1"), "oiwi");
    CHECK_EQ_STR(ns("Q\xD0\x86W\xD0\x86"), "oiwi");  /* Cyrillic І */
    CHECK_EQ_STR(ns("Q.I.W.I"), "oiwi");
    CHECK_EQ_STR(ns("Sberbank"), "sberbank");
    CHECK(strcmp(ns("Sberbank"), ns("Sbеrbаnk")) == 0); /* Cyrillic е а */
    CHECK_EQ_STR(ns("+7494"), "7494");
    CHECK_EQ_STR(ns("900"), "900");
    /* the digraphs: looked for only where an 'r' or 'v' is */
    CHECK_EQ_STR(ns("RNvv"), "mw");
    CHECK_EQ_STR(ns("79rn"), "79m");
    CHECK_EQ_STR(ns("Vrr-n"), "vrm");
    CHECK_EQ_STR(ns("Q1WI"), "oiwi");

    /* ASCII sender IDs take a short cut: the same keys as the general path,
     * which a zero-width space (ignorable, dropped) appended forces */
    {
        static const char alpha[] = "aAqQlL1iI|!0o3e5s8brnRNvVwW -._/\t\x01xyzKM2479";
        uint32_t seed = 3;
        for (int round = 0; round < 20000; round++) {
            char id[80], slow_in[84], a[64], b[64];
            size_t len = (size_t)round % 70;
            for (size_t i = 0; i < len; i++) {
                seed = seed * 1103515245u + 12345u;
                /* every other round any ASCII byte but NUL */
                id[i] = round & 1 ? (char)(1 + (seed >> 16) % 127)
                                  : alpha[(seed >> 16) % (sizeof alpha - 1)];
            }
            memcpy(slow_in, id, len);
            memcpy(slow_in + len, "\xE2\x80\x8B", 3);
            size_t cap = round % 3 ? sizeof a : 1 + (size_t)round % 9, na = 0, nb = 0;
            int ra = norm_sender(ctx, id, len, a, cap, &na);
            int rb = norm_sender(ctx, slow_in, len + 3, b, cap, &nb);
            CHECK_MSG(ra == rb && na == nb && strcmp(a, b) == 0, "\"%.*s\" cap %zu: \"%s\" (%d) vs \"%s\" (%d)",
                      (int)len, id, cap, a, ra, b, rb);
        }
    }

    /* fingerprints: digits masked */
    const char *a = "your code 123456", *b = "your code 987", *d = "your code abc";
    CHECK(norm_fingerprint(a, strlen(a)) == norm_fingerprint(b, strlen(b)));
    CHECK(norm_fingerprint(a, strlen(a)) != norm_fingerprint(d, strlen(d)));
    /* the value is XXH3-64 of the masked text, however long the text: it
     * keys stored blacklist entries, so it must never change */
    CHECK(norm_fingerprint(a, strlen(a)) == XXH3_64bits("your code #", 11));
    {
        static char longtext[5000], masked[5000];
        size_t m = 0;
        for (size_t i = 0; i < sizeof longtext - 1; i++) {
            longtext[i] = i % 7 == 3 ? (char)('0' + i % 10) : (char)('a' + i % 26);
            if (i % 7 == 3)
                masked[m++] = '#';
            else
                masked[m++] = longtext[i];
        }
        CHECK(norm_fingerprint(longtext, sizeof longtext - 1) == XXH3_64bits(masked, m));
        CHECK(norm_fingerprint(longtext, 1024) != norm_fingerprint(longtext, 1023));
    }
    /* eight and sixteen bytes at a time: every byte value, runs across
     * the steps and the 1024-byte chunks, against the plain one-byte loop */
    {
        static char text[3000], want[3000], got[3000];
        uint32_t seed = 5;
        for (int round = 0; round < 3000; round++) {
            size_t len = (size_t)round % sizeof text, m = 0;
            for (size_t i = 0; i < len; i++) {
                seed = seed * 1103515245u + 12345u;
                unsigned r = seed >> 16;
                /* a third digits; nine in ten; or runs of up to 40 digits
                 * (the sixteen-byte steps and the run skip) */
                int want_digit = round % 3 == 0   ? r % 3 == 0
                                 : round % 3 == 1 ? r % 10 != 0
                                                  : (i / (1 + (size_t)round % 40)) % 2 == 0;
                text[i] = (char)(want_digit ? '0' + r % 10 : r % 256);
            }
            /* random bytes now and then encode another script's digit
             * (D9 A0..A9 is Arabic-Indic): the reference decodes */
            m = ref_mask_digits(text, len, want);
            /* an exact-size copy: a read past the end is a sanitizer error */
            char *exact = malloc(len ? len : 1);
            CHECK(exact != NULL);
            if (!exact)
                break;
            memcpy(exact, text, len);
            CHECK(norm_fingerprint(exact, len) == XXH3_64bits(want, m));
            size_t cap = 1 + (size_t)round % 300, k = norm_redact_digits(exact, len, got, cap);
            free(exact);
            size_t cut = m < cap - 1 ? m : cap - 1;
            /* cut where the original was, less an incomplete character */
            CHECK(k <= cut && memcmp(got, want, k) == 0 && got[k] == '\0');
            CHECK(k == cut || ((unsigned char)want[k] >= 0x80 && cut - k < 4));
        }
    }
    /* every digit pattern of up to 13 bytes (the sixteen-byte step's
     * padded and overlapping tails), every cap, against the one-byte loop;
     * and the same patterns at the end of a longer text */
    for (int pre = 0; pre < 2; pre++)
        for (size_t len = 0; len <= 13; len++)
            for (unsigned pat = 0; pat < 1u << len; pat++) {
                char text[64], want[64], got[64];
                size_t off = pre ? 20 : 0, n = off + len, m = 0;
                for (size_t i = 0; i < n; i++) {
                    int digit = i < off ? i % 5 == 4 : (pat >> (i - off)) & 1;
                    text[i] = digit ? (char)('0' + (i * 7 + pat) % 10) : (char)('a' + i % 26);
                    if (!digit || i == 0 || text[i - 1] < '0' || text[i - 1] > '9')
                        want[m++] = digit ? '#' : text[i];
                }
                CHECK(norm_fingerprint(text, n) == XXH3_64bits(want, m));
                for (size_t cap = 1; cap <= n + 2; cap += 1 + pre * 3) {
                    size_t k = norm_redact_digits(text, n, got, cap);
                    size_t cut = m < cap - 1 ? m : cap - 1;
                    CHECK(k == cut && memcmp(got, want, k) == 0 && got[k] == '\0');
                }
            }
    char red[64];
    CHECK_EQ_INT(norm_redact_digits(a, strlen(a), red, sizeof red), 11);
    CHECK_EQ_STR(red, "your code #");
    CHECK_EQ_INT(norm_redact_digits("код 12", 9, red, 2), 0); /* no cut character */
    CHECK_EQ_INT(norm_redact_digits("код 12", 9, red, 3), 2);

    test_unicode_digits();
    test_block_pass();

    /* differential: the fast path gives what the general path gives (a
     * CJK word appended forces the general path: ASCII and basic Cyrillic
     * now take the fast one) */
    {
        static const char alphabet[] = "aB c.D-e f\t\n\r\x01\x7f 0 1 3 5 fr33 W I N ,!?";
        uint32_t seed = 12345;
        for (int round = 0; round < 3000; round++) {
            char in[64], in2[96], o1[512], o2[512], want[600];
            size_t len = (size_t)(round % 40);
            for (size_t i = 0; i < len; i++) {
                seed = seed * 1103515245u + 12345u;
                in[i] = alphabet[(seed >> 16) % (sizeof alphabet - 1)];
            }
            in[len] = '\0';
            snprintf(in2, sizeof in2, "%s\n\n\xE4\xB8\xAD\xE4\xB8\xAD\xE4\xB8\xAD\xE4\xB8\xAD", in);
            size_t n1, n2;
            norm_text(ctx, in, len, o1, sizeof o1, &n1, 0);
            norm_text(ctx, in2, strlen(in2), o2, sizeof o2, &n2, 0);
            snprintf(want, sizeof want, "%s%s\xE4\xB8\xAD\xE4\xB8\xAD\xE4\xB8\xAD\xE4\xB8\xAD", o1, n1 ? " " : "");
            CHECK_MSG(strcmp(want, o2) == 0, "input \"%s\": fast \"%s\", general \"%s\"", in, o1, o2);
        }
    }

    /* short output buffer and capacity: ENOSPC with a valid prefix */
    char small[8];
    size_t n;
    CHECK_EQ_INT(norm_text(ctx, "займ без отказа", strlen("займ без отказа"), small, sizeof small, &n, 0),
                 SG_ENOSPC);
    CHECK(n < sizeof small && small[n] == '\0');
    norm_ctx_t *tiny = norm_ctx_new(4);
    char o2[64];
    CHECK_EQ_INT(norm_text(tiny, "abcdefgh", 8, o2, sizeof o2, &n, 0), SG_ENOSPC);
    CHECK(n <= 4);
    norm_ctx_free(tiny);
    norm_ctx_free(NULL);
    norm_ctx_free(ctx);
    /* At the capacity of the context: texts whose code points fit but
     * whose decomposition does not (й and ё decompose to two), and the
     * controls the fast path drops as it reads, give the same result and
     * the same output through the fast and the general path (found by
     * fuzz-norm-url with inputs longer than its context). */
    {
        norm_ctx_t *cap100 = norm_ctx_new(100);
        CHECK(cap100 != NULL);
        static const char *const units[] = {"й", "Ё", "a", "\x01", "\r\n", "ж"};
        for (size_t u = 0; cap100 && u < SG_ARRAY_LEN(units); u++)
            for (size_t reps = 40; reps <= 130; reps += 3) {
                char in[1024], fast[2048], slow[2048];
                size_t len = 0, na = 0, nb = 0;
                for (size_t r = 0; r < reps; r++) {
                    const char *x = r % 3 ? units[u] : "й";
                    memcpy(in + len, x, strlen(x));
                    len += strlen(x);
                }
                int ra = norm_text(cap100, in, len, fast, sizeof fast, &na, 0);
                int rb = norm_text(cap100, in, len, slow, sizeof slow, &nb, NORM_SLOW_PATH);
                CHECK_MSG(ra == rb && na == nb && memcmp(fast, slow, na) == 0,
                          "unit %zu x %zu: %d %zu against %d %zu", u, reps, ra, na, rb, nb);
            }
        norm_ctx_free(cap100);
    }

    return test_summary();
}
