/* The packet path's shortcuts give what the general paths give:
 *   - norm_text's ASCII / basic-Cyrillic fast path (no utf8proc) against
 *     NORM_SLOW_PATH, on the SMS corpus, the generator's templates, random
 *     strings and every code point near the fast set; where it says it only
 *     lowered letters (norm_last_case_only), URL extraction finds the same
 *     hosts in its output as in its input;
 *   - url_extract's early exit for texts without a label separator, on the
 *     separators it must still see ("[dot]", "(dot)", "[.]");
 *   - url_extract against the extractor before its fast paths
 *     (url-extract-ref.h), hit for hit (span, flags, host), on every input
 *     and normalised output above and on random URL-shaped text. */
#include "testutil.h"
#include "text-norm.h"
#include "url-extract.h"
#include "url-extract-ref.h"

#include <stdio.h>
#include <stdlib.h>

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wunused-variable"
#pragma GCC diagnostic ignored "-Wunused-const-variable"
#include "../bench/smsgen-text.h"
#pragma GCC diagnostic pop

static norm_ctx_t *ctx;
static char o1[1 << 18], o2[1 << 18];
static unsigned compared, case_only_seen, url_compared, url_hits;

/* url_extract and the reference give the same hits on text[0..len), with
 * room for max of them. */
static void same_urls_max(const char *text, size_t len, size_t max)
{
    struct url_hit a[8], b[8];
    /* an exact-size copy: a read past the end is a sanitizer error */
    char *exact = malloc(len ? len : 1);
    CHECK(exact != NULL);
    if (!exact)
        return;
    memcpy(exact, text, len);
    size_t na = url_extract(exact, len, a, max), nb = url_extract_ref(text, len, b, max);
    free(exact);
    char why[512];
    CHECK_MSG(!url_hits_differ(text, len, a, na, b, nb, why, sizeof why), "%s", why);
    url_compared++;
    url_hits += (unsigned)na;
}

static void same_urls(const char *text, size_t len)
{
    same_urls_max(text, len, 8);
    same_urls_max(text, len, 1);
}

/* in normalised into cap bytes the fast way and the general way: same. */
static void same_cap(const char *in, size_t len, size_t cap)
{
    static const unsigned flags[] = {0, NORM_NO_PADDING, NORM_NO_CONFUSABLE};
    char *exact = malloc(len ? len : 1); /* a read past the end is a sanitizer error */
    CHECK(exact != NULL);
    if (!exact)
        return;
    memcpy(exact, in, len);
    for (size_t f = 0; f < SG_ARRAY_LEN(flags); f++) {
        size_t n1 = 0, n2 = 0;
        int r1 = norm_text(ctx, exact, len, o1, cap, &n1, flags[f]);
        int case_only = norm_last_case_only(ctx);
        CHECK(!case_only || (flags[f] == 0 && n1 == len));
        if (case_only) { /* what the verdict engine relies on: no new host */
            struct url_hit a[8], b[8];
            size_t na = url_extract(in, len, a, 8), nb = url_extract(o1, n1, b, 8);
            CHECK_EQ_INT(na, nb);
            for (size_t k = 0; k < na && k < nb; k++)
                CHECK_EQ_STR(a[k].host, b[k].host);
            case_only_seen++;
        }
        int r2 = norm_text(ctx, in, len, o2, cap, &n2, flags[f] | NORM_SLOW_PATH);
        CHECK(!norm_last_case_only(ctx));
        CHECK_MSG(r1 == r2 && n1 == n2 && memcmp(o1, o2, n1) == 0,
                  "flags %u input \"%.*s\": fast \"%s\" (%d), general \"%s\" (%d)", flags[f],
                  (int)len, in, o1, r1, o2, r2);
        compared++;
        if (cap == sizeof o1)
            same_urls(o1, n1);
    }
    free(exact);
    same_urls(in, len);
}

static void same(const char *in, size_t len)
{
    same_cap(in, len, sizeof o1);
}

static size_t put_utf8(uint32_t cp, char *out)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    out[0] = (char)(0xE0 | (cp >> 12));
    out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[2] = (char)(0x80 | (cp & 0x3F));
    return 3;
}

int main(void)
{
    ctx = norm_ctx_new(0);
    CHECK(ctx != NULL);

    /* every code point of U+0001..U+07FF and U+2000..U+21FF (€ ₽) alone, in a word, upper and lower */
    for (uint32_t cp = 1; cp < 0x2200; cp = cp == 0x7FF ? 0x2000 : cp + 1) {
        char in[32];
        size_t k = put_utf8(cp, in);
        same(in, k);
        size_t n = 0;
        n += put_utf8(0x0416, in + n); /* Ж */
        n += put_utf8(cp, in + n);
        n += put_utf8('a', in + n);
        n += put_utf8(0x0435, in + n); /* е: then a combining mark composes */
        n += put_utf8(cp, in + n);
        same(in, n);
    }

    /* the corpus, as is and with its Latin look-alikes spelled in Cyrillic */
    FILE *f = fopen(test_shared_path("data/corpora/sms-spam-collection.train.tsv"), "r");
    CHECK_MSG(f != NULL, "corpus missing");
    if (f) {
        char line[4096], cyr[4 * 4096];
        unsigned lines = 0;
        while (fgets(line, sizeof line, f)) {
            size_t len = strlen(line);
            while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
                line[--len] = '\0';
            const char *t = strchr(line, '\t');
            t = t ? t + 1 : line;
            same(t, strlen(t));
            size_t o = 0;
            for (const char *p = t; *p; p++) {
                uint32_t cp = (unsigned char)*p;
                if (cp == 'a' || cp == 'A')
                    cp = cp == 'a' ? 0x0430 : 0x0410;
                else if (cp == 'e' || cp == 'E')
                    cp = cp == 'e' ? 0x0435 : 0x0401;
                else if (cp == 'o')
                    cp = 0x043E;
                else if (cp == 'p')
                    cp = 0x0440;
                o += put_utf8(cp, cyr + o);
            }
            same(cyr, o);
            lines++;
        }
        fclose(f);
        CHECK(lines > 1000);
    }

    /* the generator's templates (Russian and English SMS) */
    const char *const *sets[] = {tpl_otp_qiwi, tpl_otp_yoo, tpl_otp_tinkoff, tpl_otp_sber,
                                 tpl_otp_other, tpl_ham_service, tpl_ham_p2p, tpl_ham_en};
    const size_t nsets[] = {SG_ARRAY_LEN(tpl_otp_qiwi), SG_ARRAY_LEN(tpl_otp_yoo),
                            SG_ARRAY_LEN(tpl_otp_tinkoff), SG_ARRAY_LEN(tpl_otp_sber),
                            SG_ARRAY_LEN(tpl_otp_other), SG_ARRAY_LEN(tpl_ham_service),
                            SG_ARRAY_LEN(tpl_ham_p2p), SG_ARRAY_LEN(tpl_ham_en)};
    for (size_t s = 0; s < SG_ARRAY_LEN(sets); s++)
        for (size_t i = 0; i < nsets[s]; i++)
            same(sets[s][i], strlen(sets[s][i]));
    for (size_t c = 0; c < CAMP_COUNT; c++)
        for (size_t i = 0; i < campaigns[c].ntpl; i++)
            same(campaigns[c].tpl[i], strlen(campaigns[c].tpl[i]));

    /* random strings over the fast set and its neighbours */
    static const uint32_t alpha[] = {
        'a', 'B', 'z', 'Z', '0', '1', '3', '5', ' ', ' ', '.', '-', '!', '\t', '\n', '\r', 0x01,
        0x7F, 0x0410, 0x042F, 0x0430, 0x0435, 0x0438, 0x043E, 0x044F, 0x0401, 0x0451, 0x0419,
        0x0439, 0x0400, 0x0450, 0x0407, 0x0457, 0x0456, 0x0306, 0x0308, 0x00E9, 0x00A0, 0x2014,
        0x00AB, 0x2116, 0x20BD, 0x200B, 0xFF21, 0x0391, 0x03B1, 0x00A3, 0x20AC, 0x20BD, 0x20AD,
        0x00A4,
    };
    uint32_t seed = 11;
    for (int round = 0; round < 20000; round++) {
        char in[512];
        size_t n = 0, len = (size_t)(round % 60);
        /* half the rounds only from the fast set */
        static const uint32_t fast[] = {'a', 'Q', '7', ' ', '.', '\n', '\r', 0x0410, 0x0416,
                                        0x044F, 0x0401, 0x0451, 0x00A3, 0x20AC, 0x20BD};
        for (size_t i = 0; i < len; i++) {
            seed = seed * 1103515245u + 12345u;
            n += put_utf8(round & 1 ? alpha[(seed >> 16) % SG_ARRAY_LEN(alpha)]
                                    : fast[(seed >> 16) % SG_ARRAY_LEN(fast)], in + n);
        }
        same(in, n);
    }
    /* what the one pass folds itself or hands over: digits among letters,
     * Latin mixed with Cyrillic, ё, runs of single letters (padding), and
     * output buffers from too short to just long enough */
    static const uint32_t word_alpha[] = {'a', 'w', 'n', 'e', 'o', 'p', '0', '1', '3', '4', '5',
                                          '6', '9', ' ', ' ', '-', '.', 0x01, 0x0437, 0x0439,
                                          0x043C, 0x0430, 0x0435, 0x0451, 0x0401, 0x0417, 0x20BD};
    for (int round = 0; round < 20000; round++) {
        char in[256];
        size_t n = 0, len = (size_t)(round % 40);
        for (size_t i = 0; i < len; i++) {
            seed = seed * 1103515245u + 12345u;
            n += put_utf8(word_alpha[(seed >> 16) % SG_ARRAY_LEN(word_alpha)], in + n);
        }
        same(in, n);
        same_cap(in, n, 1 + (size_t)round % (n + 6));
    }
    /* confusable folding of whole words on the fast paths (fold_word_bytes)
     * against fold_word: words over every letter those paths keep in a
     * word (ASCII either case, every digit, А-я and Ё ё, the Latin-1
     * letters), one script or mixed, digit runs leading, inside and
     * trailing; texts short (the one pass) and long (the block pass). */
    {
        uint32_t letters[26 * 2 + 10 + 64 + 2 + 62];
        size_t nl = 0;
        for (uint32_t ch = 'a'; ch <= 'z'; ch++) {
            letters[nl++] = ch;
            letters[nl++] = ch - 32;
        }
        for (uint32_t ch = '0'; ch <= '9'; ch++)
            letters[nl++] = ch;
        for (uint32_t ch = 0x0410; ch <= 0x044F; ch++)
            letters[nl++] = ch;
        letters[nl++] = 0x0401;
        letters[nl++] = 0x0451;
        for (uint32_t ch = 0x00C0; ch <= 0x00FF; ch++)
            if (ch != 0x00D7 && ch != 0x00F7 && ch != 0x00DF)
                letters[nl++] = ch;
        CHECK(nl <= SG_ARRAY_LEN(letters));
        /* biased pools: a word drawn mostly from one of them, a few
         * letters from another, so mixed words and ties are common */
        static const uint32_t lookalike[] = {'a', 'b', 'c', 'e', 'h', 'k', 'm', 'o', 'p', 't', 'x',
                                             'y', 0x0430, 0x0432, 0x0435, 0x043A, 0x043C, 0x043D,
                                             0x043E, 0x0440, 0x0441, 0x0442, 0x0443, 0x0445, '0',
                                             '1', '3', '4', '5', '6', 0x0451, 0x00E9};
        static const char *const between[] = {" ", " ", " ", ", ", ". ", "-", "!", " (", ") "};
        uint32_t fseed = 23;
        for (int round = 0; round < 30000; round++) {
            char in[1024];
            size_t n = 0, words = 1 + (size_t)round % 12;
            for (size_t w = 0; w < words; w++) {
                fseed = fseed * 1103515245u + 12345u;
                size_t wl = 2 + (fseed >> 16) % 9;
                for (size_t k = 0; k < wl; k++) {
                    fseed = fseed * 1103515245u + 12345u;
                    unsigned r = fseed >> 16;
                    n += put_utf8(r & 1 ? lookalike[(r >> 1) % SG_ARRAY_LEN(lookalike)]
                                        : letters[(r >> 1) % nl],
                                  in + n);
                }
                fseed = fseed * 1103515245u + 12345u;
                const char *sp = between[(fseed >> 16) % SG_ARRAY_LEN(between)];
                if (w + 1 < words) {
                    memcpy(in + n, sp, strlen(sp));
                    n += strlen(sp);
                }
            }
            same(in, n);
        }
    }
    static const char *const folded[] = {"w1n fr33 3айм зaйм frее ещё ЁЛКА", "з а й м w-i-n 1 2 3",
                                         "150ppm 1st box95 kl341 3pm", "я и ты", "a b cd e f g",
                                         "\xd0\x81\xd0\x81 ё-ё-ё", "0IWI QIW1 4ac"};
    for (size_t i = 0; i < SG_ARRAY_LEN(folded); i++)
        for (size_t cap = 1; cap < strlen(folded[i]) + 8; cap++)
            same_cap(folded[i], strlen(folded[i]), cap);
    /* padding collapse inside the one pass: runs of single characters
     * with separators of one to three characters, equal or not, among
     * words it folds, Latin-1 letters and ё */
    {
        static const char *const one[] = {"з", "а", "й", "м", "З", "w", "1", "n", "3", "e", "É", "ё",
                                          "x", "0", "ж", "Q"};
        static const char *const sep[] = {" ", " ", "-", ".", " - ", "  ", "_", " . ", "--", "...",
                                          ", ", "\t", "\x01", "₽"};
        static const char *const word[] = {"до", "w1n", "зaйм", "free", "3айм", "café", "ещё", "30"};
        uint32_t pseed = 5;
        for (int round = 0; round < 20000; round++) {
            char in[512];
            size_t n = 0, parts = 1 + (size_t)round % 14;
            for (size_t k = 0; k < parts; k++) {
                pseed = pseed * 1103515245u + 12345u;
                unsigned r = pseed >> 16;
                const char *pc = r % 5 == 0 ? word[(r / 5) % SG_ARRAY_LEN(word)]
                                            : one[(r / 5) % SG_ARRAY_LEN(one)];
                memcpy(in + n, pc, strlen(pc));
                n += strlen(pc);
                pseed = pseed * 1103515245u + 12345u;
                const char *sp = sep[(round & 3 ? (pseed >> 16) % 3 : (pseed >> 16)) % SG_ARRAY_LEN(sep)];
                memcpy(in + n, sp, strlen(sp));
                n += strlen(sp);
            }
            same(in, n);
        }
        static const char *const pads[] = {"З А Й М до 30 000 руб", "w.1.n f r e e", "a b c d",
                                           "з-а-й-м з а й м", "1 2 3 a b", "З.А.Й.М.", "a - b - c",
                                           "a -- b -- c", " a b c ", "x y z 1 2 3 x y", "ё ж и к"};
        for (size_t i = 0; i < SG_ARRAY_LEN(pads); i++)
            same(pads[i], strlen(pads[i]));
    }
    /* invalid UTF-8 is dropped the same way */
    static const char bad1[] = "\xD0\x90\xD0", bad2[] = "\xD0\x41\xD1\x8F\xC0\x80\xC2",
                      bad3[] = "\xE2\x82\xBD\xD0\xB0\xFF", bad4[] = "\xE2\x82";
    same(bad1, sizeof bad1 - 1);
    same(bad2, sizeof bad2 - 1);
    same(bad3, sizeof bad3 - 1);
    same(bad4, sizeof bad4 - 1);
    /* a capacity shorter than the text: both paths cut, both say so */
    {
        norm_ctx_t *big = ctx, *tiny = norm_ctx_new(8);
        ctx = tiny;
        size_t n1, n2;
        CHECK_EQ_INT(norm_text(tiny, "abcdefghijkl", 12, o1, sizeof o1, &n1, 0), SG_ENOSPC);
        CHECK_EQ_INT(norm_text(tiny, "\xD0\xB0\xD0\xB1\xD0\xB2\xD0\xB3\xD0\xB4\xD0\xB5\xD0\xB6"
                                     "\xD0\xB7\xD0\xB8", 18, o2, sizeof o2, &n2, 0), SG_ENOSPC);
        norm_ctx_free(tiny);
        ctx = big;
    }
    CHECK(compared > 30000);
    CHECK(url_compared > 100000);
    CHECK(case_only_seen > 1000);
    {
        static const struct {
            const char *in;
            int case_only;
        } co[] = {{"Hello World", 1}, {"ЗАЙМ на Карту: bit.ly/X", 1}, {"Hello  World", 0},
                  {" Hello", 0}, {"Hello ", 0}, {"a\tb", 0}, {"w1n", 0}, {"ещё", 0},
                  {"a\x01b", 0}, {"café", 1}, {"CAFÉ Ça", 1}, {"straße", 0},
                  {"з а й м", 0}, {"427r 4850р 12HRS KL341 box95", 1}, {"3айм", 0},
                  {"ЮMoney", 1}, {"зaйм", 0}, {"", 1}};
        for (size_t i = 0; i < SG_ARRAY_LEN(co); i++) {
            size_t n;
            CHECK_EQ_INT(norm_text(ctx, co[i].in, strlen(co[i].in), o1, sizeof o1, &n, 0), 0);
            CHECK_MSG(norm_last_case_only(ctx) == co[i].case_only, "\"%s\"", co[i].in);
        }
    }

    /* url_extract against the reference on URL-shaped random text: pieces
     * of schemes, defanged dots, user parts, TLDs, IDN labels, white space
     * and the punctuation that ends a URL, glued at random */
    {
        static const char *const piece[] = {
            "http", "https", "HTTP", "hxxp", "h**p", "hXXps", "://", ":", "[:]", "//", "\\/\\/",
            "/", ".", ".", ".", "[.]", "(.)", "{.}", "[dot]", "(DOT)", "[d", "(", "www", "WWW.",
            "@", "com", "ru", "xyz", "RU", "Xyz", "icu", "me", "so", "e", "g", "1", "192", "168",
            "0", "255", "qiwi-secure", "bit", "ly", "t", "a-", "-b", "_x", "x_", "--", "xn--p1ai",
            "\xd1\x80\xd1\x84", "\xd0\xa0\xd0\xa4", "\xd1\x81\xd0\xb1\xd0\xb5\xd1\x80",
            "\xd0\x81", "\xc3\xa9", "\xc3\x89", "\xe2\x80\x8b", "\xcc\x81", "\xce\xb1",
            "\xf0\x9f\x98\x80", "\xff", "\x80", "\xd0", " ", " ", "  ", "\t", "\n", "?", "#",
            ",", "!", ")", "]", "}", "'", "<", ">", "\"", ";", "%20", "login", "?a=1", "#x",
        };
        uint32_t useed = 7;
        char text[1024];
        for (int round = 0; round < 60000; round++) {
            size_t n = 0, pieces = 1 + (size_t)round % 24;
            for (size_t k = 0; k < pieces; k++) {
                useed = useed * 1103515245u + 12345u;
                const char *pc = piece[(useed >> 16) % SG_ARRAY_LEN(piece)];
                size_t pl = strlen(pc);
                memcpy(text + n, pc, pl);
                n += pl;
            }
            same_urls(text, n);
        }
        /* long labels and hosts: the host buffer's limit, ASCII and Cyrillic */
        for (size_t L = 60; L < 300; L += 7) {
            size_t n = 7;
            memcpy(text, "http://", 7);
            for (size_t k = 0; k < L; k++) {
                if (k % 9 == 8) {
                    text[n++] = '.';
                } else if (k % 5 == 0) {
                    text[n++] = '\xd0'; /* а */
                    text[n++] = '\xb0';
                } else {
                    text[n++] = 'a';
                }
            }
            memcpy(text + n, ".com/x", 6);
            n += 6;
            same_urls(text, n);
            same_urls(text + 7, n - 7);
        }
        CHECK(url_hits > 5000);
    }

    /* url_tld_known's search by halves knows what the list did: every
     * TLD, and no prefix, extension or case variant of one */
    for (size_t i = 0; i < SG_ARRAY_LEN(ref_tlds); i++) {
        const char *tld = ref_tlds[i];
        size_t tl = strlen(tld);
        CHECK_MSG(url_tld_known(tld, tl), "%s", tld);
        char v[16];
        memcpy(v, tld, tl);
        for (size_t cut = 1; cut < tl; cut++)
            CHECK_EQ_INT(url_tld_known(v, cut), ref_tld_known(v, cut));
        v[tl] = 'a';
        CHECK_EQ_INT(url_tld_known(v, tl + 1), ref_tld_known(v, tl + 1));
        v[tl] = '\0';
        CHECK_EQ_INT(url_tld_known(v, tl + 1), ref_tld_known(v, tl + 1));
        v[0] = (char)(v[0] ^ 0x20);
        CHECK_EQ_INT(url_tld_known(v, tl), ref_tld_known(v, tl));
    }
    {
        uint32_t tseed = 9;
        for (int round = 0; round < 20000; round++) {
            char v[8];
            size_t tl = 1 + (size_t)round % 7;
            for (size_t k = 0; k < tl; k++) {
                tseed = tseed * 1103515245u + 12345u;
                v[k] = "abcdefgijklmnoprstuvwxyz-1\xd1\x80\x84"[(tseed >> 16) % 29];
            }
            CHECK_EQ_INT(url_tld_known(v, tl), ref_tld_known(v, tl));
        }
    }

    /* url_extract's early exit keeps every separator it accepts */
    struct url_hit h[4];
    CHECK_EQ_INT(url_extract("no separator here", 17, h, 4), 0);
    CHECK_EQ_INT(url_extract("visit evil[dot]icu now", 22, h, 4), 1);
    CHECK_EQ_INT(url_extract("visit evil(DOT)icu now", 22, h, 4), 1);
    CHECK_EQ_INT(url_extract("visit evil[.]icu now", 20, h, 4), 1);
    CHECK_EQ_INT(url_extract("hxxp://evil[.]icu", 17, h, 4), 1);
    const char *ru = "займ на карту зaйм-быстро.рф сегодня";
    CHECK_EQ_INT(url_extract(ru, strlen(ru), h, 4), 1);
    const char *ru2 = "займ на карту без отказа сегодня";
    CHECK_EQ_INT(url_extract(ru2, strlen(ru2), h, 4), 0);

    norm_ctx_free(ctx);
    return test_summary();
}
