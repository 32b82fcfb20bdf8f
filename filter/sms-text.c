/* SMS text decoding to UTF-8 (see sms-text.h for the contract and
 * docs/text-and-multipart.md for the table sources). */
#include "sms-text.h"

#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h> /* the x86-64 baseline: the GSM, IA5/Latin-1 and UCS-2 fast paths
                        * use it where present, the word-at-a-time code elsewhere */
#endif
/* SSSE3's byte shuffle packs UCS-2 blocks (utf16_block8_ssse3), on
 * the processors that have it, chosen at run time: the build targets
 * baseline x86-64.  SMS_TEXT_NO_SSSE3 leaves it out (tests/test-sms-text-
 * fast.c builds this file so, as the reference). */
#if defined(__SSE2__) && (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__) && \
    !defined(SMS_TEXT_NO_SSSE3)
#define SMS_TEXT_SSSE3 1
#include <tmmintrin.h>
#else
#define SMS_TEXT_SSSE3 0
#endif

#define GSM_ESC 0x1Bu
#define UNI_REPL 0xFFFDu

/* TS 23.038 §6.2.1 default alphabet, mapped as Unicode's GSM0338.TXT does
 * (0x09 is U+00E7 small c cedilla: the spec's table shows a capital, the
 * Unicode note explains why the lowercase is meant).  0x1B is the escape and
 * never looked up here. */
static const uint16_t gsm_default[128] = {
    0x0040, 0x00A3, 0x0024, 0x00A5, 0x00E8, 0x00E9, 0x00F9, 0x00EC, /* 0x00 @ £ $ ¥ è é ù ì */
    0x00F2, 0x00E7, 0x000A, 0x00D8, 0x00F8, 0x000D, 0x00C5, 0x00E5, /* 0x08 ò ç LF Ø ø CR Å å */
    0x0394, 0x005F, 0x03A6, 0x0393, 0x039B, 0x03A9, 0x03A0, 0x03A8, /* 0x10 Δ _ Φ Γ Λ Ω Π Ψ */
    0x03A3, 0x0398, 0x039E, 0x00A0, 0x00C6, 0x00E6, 0x00DF, 0x00C9, /* 0x18 Σ Θ Ξ ESC Æ æ ß É */
    0x0020, 0x0021, 0x0022, 0x0023, 0x00A4, 0x0025, 0x0026, 0x0027, /* 0x20   ! " # ¤ % & ' */
    0x0028, 0x0029, 0x002A, 0x002B, 0x002C, 0x002D, 0x002E, 0x002F, /* 0x28 ( ) * + , - . / */
    0x0030, 0x0031, 0x0032, 0x0033, 0x0034, 0x0035, 0x0036, 0x0037, /* 0x30 0-7 */
    0x0038, 0x0039, 0x003A, 0x003B, 0x003C, 0x003D, 0x003E, 0x003F, /* 0x38 8 9 : ; < = > ? */
    0x00A1, 0x0041, 0x0042, 0x0043, 0x0044, 0x0045, 0x0046, 0x0047, /* 0x40 ¡ A-G */
    0x0048, 0x0049, 0x004A, 0x004B, 0x004C, 0x004D, 0x004E, 0x004F, /* 0x48 H-O */
    0x0050, 0x0051, 0x0052, 0x0053, 0x0054, 0x0055, 0x0056, 0x0057, /* 0x50 P-W */
    0x0058, 0x0059, 0x005A, 0x00C4, 0x00D6, 0x00D1, 0x00DC, 0x00A7, /* 0x58 X Y Z Ä Ö Ñ Ü § */
    0x00BF, 0x0061, 0x0062, 0x0063, 0x0064, 0x0065, 0x0066, 0x0067, /* 0x60 ¿ a-g */
    0x0068, 0x0069, 0x006A, 0x006B, 0x006C, 0x006D, 0x006E, 0x006F, /* 0x68 h-o */
    0x0070, 0x0071, 0x0072, 0x0073, 0x0074, 0x0075, 0x0076, 0x0077, /* 0x70 p-w */
    0x0078, 0x0079, 0x007A, 0x00E4, 0x00F6, 0x00F1, 0x00FC, 0x00E0, /* 0x78 x y z ä ö ñ ü à */
};

/* TS 23.038 §6.2.1.1 default extension table: the code after 0x1B. */
static const struct {
    uint8_t code;
    uint16_t cp;
} gsm_ext[] = {
    {0x0A, 0x000C}, /* form feed (page break) */
    {0x14, 0x005E}, /* ^ */
    {0x28, 0x007B}, /* { */
    {0x29, 0x007D}, /* } */
    {0x2F, 0x005C}, /* backslash */
    {0x3C, 0x005B}, /* [ */
    {0x3D, 0x007E}, /* ~ */
    {0x3E, 0x005D}, /* ] */
    {0x40, 0x007C}, /* | */
    {0x65, 0x20AC}, /* € */
};

static uint32_t gsm_ext_lookup(uint8_t code)
{
    for (size_t i = 0; i < SG_ARRAY_LEN(gsm_ext); i++)
        if (gsm_ext[i].code == code)
            return gsm_ext[i].cp;
    return 0;
}

/* ISO-8859-8 (Hebrew) 0xA0-0xFF; 0 marks an unassigned code. */
static const uint16_t iso8859_8_hi[96] = {
    0x00A0, 0,      0x00A2, 0x00A3, 0x00A4, 0x00A5, 0x00A6, 0x00A7, /* 0xA0 */
    0x00A8, 0x00A9, 0x00D7, 0x00AB, 0x00AC, 0x00AD, 0x00AE, 0x00AF, /* 0xA8 */
    0x00B0, 0x00B1, 0x00B2, 0x00B3, 0x00B4, 0x00B5, 0x00B6, 0x00B7, /* 0xB0 */
    0x00B8, 0x00B9, 0x00F7, 0x00BB, 0x00BC, 0x00BD, 0x00BE, 0,      /* 0xB8 */
    0,      0,      0,      0,      0,      0,      0,      0,      /* 0xC0 */
    0,      0,      0,      0,      0,      0,      0,      0,      /* 0xC8 */
    0,      0,      0,      0,      0,      0,      0,      0,      /* 0xD0 */
    0,      0,      0,      0,      0,      0,      0,      0x2017, /* 0xD8 */
    0x05D0, 0x05D1, 0x05D2, 0x05D3, 0x05D4, 0x05D5, 0x05D6, 0x05D7, /* 0xE0 alef.. */
    0x05D8, 0x05D9, 0x05DA, 0x05DB, 0x05DC, 0x05DD, 0x05DE, 0x05DF, /* 0xE8 */
    0x05E0, 0x05E1, 0x05E2, 0x05E3, 0x05E4, 0x05E5, 0x05E6, 0x05E7, /* 0xF0 */
    0x05E8, 0x05E9, 0x05EA, 0,      0,      0x200E, 0x200F, 0,      /* 0xF8 ..tav LRM RLM */
};

/* ISO-8859-5: 0xA1-0xFF are Cyrillic U+0401.. except three symbols. */
static uint32_t iso8859_5(uint8_t b)
{
    if (b < 0xA1)
        return b;
    if (b == 0xAD)
        return 0x00AD; /* soft hyphen */
    if (b == 0xF0)
        return 0x2116; /* numero sign */
    if (b == 0xFD)
        return 0x00A7; /* section sign */
    return 0x0360u + b; /* 0xA1 -> U+0401 ... 0xFF -> U+045F */
}

/* Bounded UTF-8 writer: a character is written whole or not at all, and the
 * NUL always fits. */
struct wr {
    char *out;
    size_t cap, len;
    unsigned bad;
    int full;
};

static void wr_put_slow(struct wr *w, uint32_t cp)
{
    uint8_t b[4];
    size_t n;
    if (w->full)
        return;
    if (cp == 0 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        cp = UNI_REPL;
    if (cp == UNI_REPL)
        w->bad++;
    if (cp < 0x80) {
        b[0] = (uint8_t)cp;
        n = 1;
    } else if (cp < 0x800) {
        b[0] = (uint8_t)(0xC0 | cp >> 6);
        b[1] = (uint8_t)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        b[0] = (uint8_t)(0xE0 | cp >> 12);
        b[1] = (uint8_t)(0x80 | (cp >> 6 & 0x3F));
        b[2] = (uint8_t)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        b[0] = (uint8_t)(0xF0 | cp >> 18);
        b[1] = (uint8_t)(0x80 | (cp >> 12 & 0x3F));
        b[2] = (uint8_t)(0x80 | (cp >> 6 & 0x3F));
        b[3] = (uint8_t)(0x80 | (cp & 0x3F));
        n = 4;
    }
    if (w->len + n + 1 > w->cap) {
        if (cp == UNI_REPL)
            w->bad--; /* not written, not counted */
        w->full = 1;
        return;
    }
    memcpy(w->out + w->len, b, n);
    w->len += n;
}

/* Most SMS text is ASCII or Cyrillic/Latin (two UTF-8 bytes): written here
 * without a call or the range checks the other code points need. */
static inline void wr_put(struct wr *w, uint32_t cp)
{
    if (!w->full && w->len + 3 <= w->cap) {
        if (cp - 1u < 0x7Fu) {
            w->out[w->len++] = (char)cp;
            return;
        }
        if (cp - 0x80u < 0x780u) {
            w->out[w->len++] = (char)(0xC0 | cp >> 6);
            w->out[w->len++] = (char)(0x80 | (cp & 0x3F));
            return;
        }
    }
    wr_put_slow(w, cp);
}

/* Septet i of a packed stream (LSB first, after fill bits).  The caller
 * guarantees fill + 7*i + 7 <= 8*len. */
static uint8_t packed_septet(const uint8_t *in, size_t len, unsigned fill, size_t i)
{
    size_t bit = fill + 7 * i;
    size_t byte = bit / 8;
    unsigned shift = (unsigned)(bit % 8);
    unsigned v = in[byte] >> shift;
    if (shift > 1 && byte + 1 < len)
        v |= (unsigned)in[byte + 1] << (8 - shift);
    return (uint8_t)(v & 0x7F);
}

/* Number of text septets in a packed stream, padding dropped (see
 * sms_gsm_unpack in the header). */
static size_t packed_count(const uint8_t *in, size_t len, unsigned fill)
{
    if (len == 0 || len * 8 < fill)
        return 0;
    size_t bits = len * 8 - fill;
    size_t n = bits / 7;
    if (n > 0 && bits % 7 == 0) {
        uint8_t last = packed_septet(in, len, fill, n - 1);
        if (last == 0x0D || last == 0x00)
            n--;
    }
    return n;
}

int sms_gsm_unpack(const uint8_t *in, size_t len, unsigned fill_bits, uint8_t *septets,
                   size_t cap, size_t *n)
{
    if (n)
        *n = 0;
    if (fill_bits > 6)
        return SG_EINVAL;
    size_t total = packed_count(in, len, fill_bits);
    size_t k = total < cap ? total : cap;
    for (size_t i = 0; i < k; i++)
        septets[i] = packed_septet(in, len, fill_bits, i);
    if (n)
        *n = k;
    return k < total ? SG_ENOSPC : 0;
}

int sms_gsm_pack(const uint8_t *septets, size_t n, unsigned fill_bits, uint8_t *out, size_t cap,
                 size_t *outlen)
{
    if (outlen)
        *outlen = 0;
    if (fill_bits > 6)
        return SG_EINVAL;
    size_t bits = fill_bits + 7 * n;
    size_t need = (bits + 7) / 8;
    if (need > cap)
        return SG_ENOSPC;
    memset(out, 0, need);
    for (size_t i = 0; i < n; i++) {
        if (septets[i] > 0x7F)
            return SG_EINVAL;
        size_t bit = fill_bits + 7 * i;
        unsigned shift = (unsigned)(bit % 8);
        out[bit / 8] |= (uint8_t)(septets[i] << shift);
        if (shift > 1)
            out[bit / 8 + 1] |= (uint8_t)(septets[i] >> (8 - shift));
    }
    if (outlen)
        *outlen = need;
    return 0;
}

/* 1 when the eight octets at p are all septets the default alphabet maps
 * to the same ASCII code (0x20-0x7A but for 0x24 ¤, 0x40 ¡ and 0x5B-0x60
 * ÄÖÑÜ§¿), so that they are their own UTF-8.  Octets are tested side by
 * side in one word: with every octet below 0x80, adding 0x80 - k sets an
 * octet's high bit exactly when it is >= k, and no carry crosses octets. */
static inline int gsm_same8(const uint8_t *p)
{
    const uint64_t ones = 0x0101010101010101ULL, high = 0x8080808080808080ULL;
    uint64_t v;
    memcpy(&v, p, 8);
    if (v & high)
        return 0;
    uint64_t ge20 = v + 0x60 * ones, ge5b = v + 0x25 * ones, ge61 = v + 0x1F * ones,
             ge7b = v + 0x05 * ones;
    /* (v ^ c) + 0x7F has the high bit set exactly when the octet is not c. */
    uint64_t ne24 = (v ^ 0x24 * ones) + 0x7F * ones, ne40 = (v ^ 0x40 * ones) + 0x7F * ones;
    uint64_t bad = ~ge20 | ge7b | (ge5b & ~ge61) | ~ne24 | ~ne40;
    return (bad & high) == 0;
}

#if defined(__SSE2__)
/* gsm_same8 for sixteen octets, with SSE2.  Each range is one signed
 * compare after a bias that moves its first octet to -128: v + 0x60 is
 * below -37 exactly for 0x20-0x7A, v + 0x25 below -122 exactly for
 * 0x5B-0x60 (octets of 0x80 and more land at -32 and above, and at -91
 * and above). */
static inline int gsm_same16(const uint8_t *p)
{
    __m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
    __m128i in_range = _mm_cmplt_epi8(_mm_add_epi8(v, _mm_set1_epi8(0x60)), _mm_set1_epi8(-37));
    __m128i other = _mm_or_si128(_mm_cmplt_epi8(_mm_add_epi8(v, _mm_set1_epi8(0x25)), _mm_set1_epi8(-122)),
                                 _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8(0x24)),
                                              _mm_cmpeq_epi8(v, _mm_set1_epi8(0x40))));
    return _mm_movemask_epi8(_mm_andnot_si128(other, in_range)) == 0xFFFF;
}
#endif

/* GSM decode over a septet source: packed (in, len, fill) or unpacked.
 * packed: a constant (decode_gsm below). */
static inline __attribute__((always_inline)) void decode_gsm_t(struct wr *w, const uint8_t *in, size_t len,
                                                              int packed, unsigned fill)
{
    size_t n = packed ? packed_count(in, len, fill) : len;
    size_t i = 0;
    /* Fast path: while two output bytes per septet (the most a default
     * alphabet character takes) and the NUL fit, default characters and
     * known escapes are written without the writer's checks; a non-septet
     * octet, a dangling escape or an unknown one goes to the general loop
     * below. */
    if (w->cap - w->len > 2 * n) {
        char *o = w->out + w->len;
        /* Unpacked text is mostly letters, digits and spaces, copied eight
         * at a time; a window that holds anything else goes one by one,
         * so a failed test costs at most one per eight septets. */
        size_t one_by_one = packed ? n : 0; /* septets before the next test */
        for (; i < n; i++) {
            if (!one_by_one) {
                size_t run = i; /* septets run..i are copied as they are */
                /* After the blocks, the last few septets, when the sixteen
                 * (or eight) that end with them reach back into the run
                 * just copied: those are tested and copied at once, the
                 * run's own octets rewritten (each septet of the run is
                 * one octet), instead of one by one.  The copy ends n - i
                 * octets past o, inside the room asked for above. */
#if defined(__SSE2__)
                while (i + 16 <= n && gsm_same16(in + i)) {
                    memcpy(o, in + i, 16);
                    o += 16;
                    i += 16;
                }
                if (i < n && n - run >= 16 && n - i < 16 && gsm_same16(in + n - 16)) {
                    memcpy(o - (16 - (n - i)), in + n - 16, 16);
                    o += n - i;
                    i = n;
                }
#endif
                while (i + 8 <= n && gsm_same8(in + i)) {
                    memcpy(o, in + i, 8);
                    o += 8;
                    i += 8;
                }
                if (i < n && n - run >= 8 && n - i < 8 && gsm_same8(in + n - 8)) {
                    memcpy(o - (8 - (n - i)), in + n - 8, 8);
                    o += n - i;
                    i = n;
                }
                if (i == n)
                    break;
                one_by_one = 8;
            }
            one_by_one--;
            uint8_t s = packed ? packed_septet(in, len, fill, i) : in[i];
            if (s > 0x7F)
                break;
            if (s == GSM_ESC) {
                /* An escape and a known code (§6.2.1.1): the extension
                 * character, at most three octets in the four the two
                 * septets have room for.  A dangling escape or an unknown
                 * code goes to the general loop. */
                uint8_t c = i + 1 < n ? (packed ? packed_septet(in, len, fill, i + 1) : in[i + 1]) : 0x80;
                uint32_t cp = c <= 0x7F ? gsm_ext_lookup(c) : 0;
                if (!cp)
                    break;
                if (cp < 0x80) {
                    *o++ = (char)cp;
                } else if (cp < 0x800) { /* none in the table today */
                    o[0] = (char)(0xC0 | cp >> 6);
                    o[1] = (char)(0x80 | (cp & 0x3F));
                    o += 2;
                } else { /* U+20AC, the euro sign */
                    o[0] = (char)(0xE0 | cp >> 12);
                    o[1] = (char)(0x80 | (cp >> 6 & 0x3F));
                    o[2] = (char)(0x80 | (cp & 0x3F));
                    o += 3;
                }
                i++;
                continue;
            }
            uint32_t cp = gsm_default[s];
            if (cp < 0x80) {
                *o++ = (char)cp;
            } else {
                o[0] = (char)(0xC0 | cp >> 6);
                o[1] = (char)(0x80 | (cp & 0x3F));
                o += 2;
            }
        }
        w->len = (size_t)(o - w->out);
    }
    for (; i < n && !w->full; i++) {
        uint8_t s = packed ? packed_septet(in, len, fill, i) : in[i];
        if (s > 0x7F) { /* unpacked only: an octet that is no septet */
            wr_put(w, UNI_REPL);
            continue;
        }
        if (s != GSM_ESC) {
            wr_put(w, gsm_default[s]);
            continue;
        }
        if (i + 1 >= n) { /* dangling escape: a lost part or a broken encoder */
            wr_put(w, UNI_REPL);
            break;
        }
        uint8_t c = packed ? packed_septet(in, len, fill, i + 1) : in[i + 1];
        i++;
        uint32_t cp = c <= 0x7F ? gsm_ext_lookup(c) : 0;
        if (cp) {
            wr_put(w, cp);
        } else {
            /* §6.2.1.1: an unknown extension code is shown as the default
             * character; we also count it, since no correct encoder sends
             * it (ESC ESC included).  A non-septet octet is just bad. */
            wr_put(w, UNI_REPL);
            if (c <= 0x7F && c != GSM_ESC)
                wr_put(w, gsm_default[c]);
        }
    }
}

/* Unpacked septets (the usual SMPP form) and packed ones in copies of
 * their own, so that neither tests the packing per septet. */
static void decode_gsm(struct wr *w, const uint8_t *in, size_t len, int packed, unsigned fill)
{
    if (packed)
        decode_gsm_t(w, in, len, 1, fill);
    else
        decode_gsm_t(w, in, len, 0, 0);
}

#if defined(__SSE2__)
/* utf16_lane_off[a]: for four UTF-8 lanes of which bit k of a marks lane
 * k as one octet (ASCII) and the rest as two, the offsets of lanes 1, 2
 * and 3 and the octets the four take. */
#define LANE_LEN(a, k) (2 - ((a) >> (k) & 1))
#define LANE_OFF(a) \
    {LANE_LEN(a, 0), LANE_LEN(a, 0) + LANE_LEN(a, 1), \
     LANE_LEN(a, 0) + LANE_LEN(a, 1) + LANE_LEN(a, 2), \
     LANE_LEN(a, 0) + LANE_LEN(a, 1) + LANE_LEN(a, 2) + LANE_LEN(a, 3)}
static const uint8_t utf16_lane_off[16][4] = {
    LANE_OFF(0),  LANE_OFF(1),  LANE_OFF(2),  LANE_OFF(3),  LANE_OFF(4),  LANE_OFF(5),
    LANE_OFF(6),  LANE_OFF(7),  LANE_OFF(8),  LANE_OFF(9),  LANE_OFF(10), LANE_OFF(11),
    LANE_OFF(12), LANE_OFF(13), LANE_OFF(14), LANE_OFF(15),
};
#undef LANE_OFF
#undef LANE_LEN

#if SMS_TEXT_SSSE3
/* utf16_pack8[m], for eight UTF-8 lanes of two octets (lane k at octets
 * 2k, 2k + 1) of which bit k of m marks lane k as ASCII: the shuffle that
 * keeps, in order, octet 2k of each lane and octet 2k + 1 of each lane
 * that is not ASCII; 0x80 shuffles in a zero past the end.
 * utf16_pack8_len[m] = 16 - popcount(m), the octets kept.  (simdutf's
 * pack_1_2_utf8_bytes, in our lane order.)  Built once, before main, by
 * build_utf16_pack8(); tests/test-sms-text-fast.c checks the decoder that
 * reads them against the scalar one. */
static uint8_t utf16_pack8[256][16] __attribute__((aligned(16)));
static uint8_t utf16_pack8_len[256];

__attribute__((constructor)) static void build_utf16_pack8(void)
{
    for (unsigned m = 0; m < 256; m++) {
        unsigned n = 0;
        for (unsigned k = 0; k < 8; k++) {
            utf16_pack8[m][n++] = (uint8_t)(2 * k);
            if (!(m >> k & 1))
                utf16_pack8[m][n++] = (uint8_t)(2 * k + 1);
        }
        utf16_pack8_len[m] = (uint8_t)n;
        while (n < 16)
            utf16_pack8[m][n++] = 0x80;
    }
}

/* The SSSE3 form of utf16_bmp2_block8 below (the same octets): eight
 * UTF-16BE units at in, when each is U+0001-U+07FF, as UTF-8 at *o, which
 * it advances; it then sets *ascii_lanes (bit k: unit k is ASCII) and
 * returns 1.  Else it returns 0 and stores nothing.  Stores 16 octets at
 * *o.  Any mix of ASCII and two-octet lanes is packed by one shuffle from
 * utf16_pack8; the units' octets are swapped by a shuffle too.  The range
 * is one saturating subtraction: u - 1 (wrapping) minus 0x7FE is 0
 * exactly for U+0001-U+07FF; its lanes and the ASCII ones come out of one
 * movemask (ASCII in bits 0-7, in range in bits 8-15). */
static inline __attribute__((target("ssse3"))) int utf16_block8_ssse3(const uint8_t *in, char **o,
                                                                       unsigned *ascii_lanes)
{
    const __m128i zero = _mm_setzero_si128();
    __m128i v = _mm_loadu_si128((const __m128i *)(const void *)in); /* lane: first octet low */
    __m128i u = _mm_shuffle_epi8(v, _mm_setr_epi8(1, 0, 3, 2, 5, 4, 7, 6, 9, 8, 11, 10, 13, 12, 15, 14));
    __m128i in_range = _mm_cmpeq_epi16(
        _mm_subs_epu16(_mm_add_epi16(u, _mm_set1_epi16(-1)), _mm_set1_epi16(0x7FE)), zero);
    /* signed compare: meaningful for the lanes in range, below 0x800 */
    __m128i ascii = _mm_cmplt_epi16(u, _mm_set1_epi16(0x80));
    unsigned r = (unsigned)_mm_movemask_epi8(_mm_packs_epi16(ascii, in_range));
    if (r < 0xFF00)
        return 0;
    /* two-octet lanes: 0xC0 | u >> 6, then 0x80 | (u & 0x3F), in memory
     * order, the latter being v's second octet masked; ASCII lanes: the
     * unit (its second octet is dropped) */
    __m128i two = _mm_or_si128(_mm_or_si128(_mm_srli_epi16(u, 6), _mm_and_si128(v, _mm_set1_epi16(0x3F00))),
                               _mm_set1_epi16((short)0x80C0));
    __m128i utf8 = _mm_or_si128(_mm_and_si128(ascii, u), _mm_andnot_si128(ascii, two));
    unsigned m = r & 0xFF;
    __m128i pack = _mm_load_si128((const __m128i *)(const void *)utf16_pack8[m]);
    _mm_storeu_si128((__m128i *)(void *)*o, _mm_shuffle_epi8(utf8, pack));
    *o += utf16_pack8_len[m];
    *ascii_lanes = m;
    return 1;
}

/* Decodes blocks of eight units from *i while utf16_block8_ssse3 takes
 * them, then, when fewer than eight units remain after a block, the last
 * k (1-7) as one more block: the eight units that end with them, whose
 * first 8 - k are the last lanes of the block just written, packed again
 * over those lanes' own octets (the same octets, rewritten), instead of
 * four units or one at a time.  Those lanes took two octets each but one
 * per ASCII lane (the popcount of their bits, 16 - utf16_pack8_len).
 * Advances *i and *o past what it decoded; a refused block or window is
 * left to the caller.  Room: the caller's, three octets per unit left and
 * the NUL; the tail's store fits in it, as the block just written took at
 * most 16 of its 24 octets, so more than 3k + 8 remain past *o, and the
 * store ends at most 8 + k past it. */
static inline __attribute__((target("ssse3"))) void utf16_blocks_ssse3(const uint8_t *in, size_t len,
                                                                         size_t *ip, char **op)
{
    size_t i = *ip, from = i;
    char *o = *op;
    unsigned ascii_lanes = 0;
    /* two blocks a turn: one loop test for sixteen units */
    while (i + 32 <= len) {
        if (!utf16_block8_ssse3(in + i, &o, &ascii_lanes))
            break;
        i += 16;
        if (!utf16_block8_ssse3(in + i, &o, &ascii_lanes))
            break;
        i += 16;
    }
    if (i + 32 > len && i + 16 <= len && utf16_block8_ssse3(in + i, &o, &ascii_lanes))
        i += 16;
    if (i > from && i + 16 > len && len - i >= 2) {
        size_t k = (len - i) / 2;
        char *at = o - (2 * (8 - k) - (16u - utf16_pack8_len[ascii_lanes >> k]));
        if (utf16_block8_ssse3(in + i + 2 * k - 16, &at, &ascii_lanes)) {
            o = at;
            i += 2 * k;
        }
    }
    *ip = i;
    *op = o;
}

static int have_ssse3(void)
{
    return __builtin_cpu_supports("ssse3");
}
#endif

/* Eight UTF-16BE units at in, when each is U+0001-U+07FF (ASCII and the
 * two-octet UTF-8 range: Cyrillic, Latin-1, Greek, Hebrew, Arabic), as
 * UTF-8 at o; returns the octets written (8 to 16), or 0 when a unit is
 * outside that range (the caller then decodes them another way).  Same
 * octets as the unit-by-unit fast path below.  Stores up to 16 octets at
 * o, so o needs room for 16; nothing when it returns 0. */
static inline __attribute__((always_inline)) size_t utf16_bmp2_block8(const uint8_t *in, char *o)
{
    const __m128i zero = _mm_setzero_si128();
    __m128i v = _mm_loadu_si128((const __m128i *)(const void *)in);
    /* unit values: each lane's two octets swapped */
    __m128i u = _mm_or_si128(_mm_slli_epi16(v, 8), _mm_srli_epi16(v, 8));
    __m128i ascii = _mm_cmpeq_epi16(_mm_and_si128(u, _mm_set1_epi16((short)0xFF80)), zero);
    __m128i below800 = _mm_cmpeq_epi16(_mm_and_si128(u, _mm_set1_epi16((short)0xF800)), zero);
    __m128i nul = _mm_cmpeq_epi16(u, zero);
    if (_mm_movemask_epi8(_mm_andnot_si128(nul, below800)) != 0xFFFF)
        return 0;
    /* Two-octet lanes: 0xC0 | u >> 6, then 0x80 | (u & 0x3F), in memory
     * order (little-endian lanes); ASCII lanes: the unit, then 0. */
    __m128i two = _mm_or_si128(_mm_or_si128(_mm_srli_epi16(u, 6),
                                            _mm_slli_epi16(_mm_and_si128(u, _mm_set1_epi16(0x3F)), 8)),
                               _mm_set1_epi16((short)0x80C0));
    __m128i utf8 = _mm_or_si128(_mm_and_si128(ascii, u), _mm_andnot_si128(ascii, two));
    /* bit k: unit k is ASCII */
    unsigned m = (unsigned)_mm_movemask_epi8(_mm_packs_epi16(ascii, zero));
    if (m == 0) {
        _mm_storeu_si128((__m128i *)(void *)o, utf8);
        return 16;
    }
    if (m == 0xFF) {
        _mm_storeu_si128((__m128i *)(void *)o, _mm_packus_epi16(utf8, utf8));
        return 8;
    }
    /* Mixed (words and the spaces between them): each lane's two octets
     * stored in turn at its offset, an ASCII lane's second octet (0)
     * overwritten by the next lane.  Four lanes per word (SSE2 means x86,
     * little-endian: lane 0 in the low bits), placed by utf16_lane_off for
     * that word's four ASCII bits. */
    uint8_t lanes[16];
    uint64_t w0, w1;
    _mm_storeu_si128((__m128i *)(void *)lanes, utf8);
    memcpy(&w0, lanes, 8);
    memcpy(&w1, lanes + 8, 8);
    char *p = o;
    for (int h = 0; h < 2; h++) {
        const uint8_t *off = utf16_lane_off[m & 15];
        uint64_t x = h ? w1 : w0;
        uint16_t l0 = (uint16_t)x, l1 = (uint16_t)(x >> 16), l2 = (uint16_t)(x >> 32),
                 l3 = (uint16_t)(x >> 48);
        memcpy(p, &l0, 2);
        memcpy(p + off[0], &l1, 2);
        memcpy(p + off[1], &l2, 2);
        memcpy(p + off[2], &l3, 2);
        p += off[3];
        m >>= 4;
    }
    return (size_t)(p - o);
}
#endif

/* IA5 and Latin-1 text is mostly U+0001-U+007F, which both write as the
 * octet itself: sixteen-octet blocks of such octets are copied while the
 * block and the NUL fit (the room wr_put would want for each of them), up
 * to the first block that holds anything else, and the tail after them
 * (below).  Returns the octets consumed: a multiple of 16, or len. */
static size_t copy_ascii_blocks(struct wr *w, const uint8_t *in, size_t len)
{
    size_t i = 0;
#if defined(__SSE2__)
    /* signed compare: 0x01-0x7F are above 0, 0x00 and 0x80-0xFF are not */
    while (len - i >= 16 && w->cap - w->len >= 17) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(in + i));
        if (_mm_movemask_epi8(_mm_cmpgt_epi8(v, _mm_setzero_si128())) != 0xFFFF)
            break;
        _mm_storeu_si128((__m128i *)(void *)(w->out + w->len), v);
        w->len += 16;
        i += 16;
    }
    /* Fewer than sixteen octets left after a block: the sixteen that end
     * with them, the block's last octets among them (written again as
     * they are), at once while the new ones and the NUL fit. */
    if (i > 0 && i < len && len - i < 16 && w->cap - w->len > len - i) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(in + len - 16));
        if (_mm_movemask_epi8(_mm_cmpgt_epi8(v, _mm_setzero_si128())) == 0xFFFF) {
            _mm_storeu_si128((__m128i *)(void *)(w->out + w->len - (16 - (len - i))), v);
            w->len += len - i;
            i = len;
        }
    }
#else
    (void)w;
    (void)in;
    (void)len;
#endif
    return i;
}

static inline __attribute__((always_inline)) void decode_utf16be_t(struct wr *w, const uint8_t *in,
                                                                  size_t len, int ssse3)
{
    (void)ssse3; /* a constant: 1 only in the copy compiled for SSSE3 */
    size_t i = 0;
    /* Fast path for the usual Cyrillic or Latin text: while even three
     * output bytes per unit (and the NUL) fit, BMP characters other than
     * surrogates, NUL and U+FFFD (counted as bad when sent as such) are
     * written without the writer's checks.  The
     * first unit it does not handle goes to the general loop below. */
    if (w->cap - w->len > (len / 2) * 3) {
        char *o = w->out + w->len;
        /* Two-octet characters (Cyrillic, accented Latin) are tested
         * first: in a UCS-2 message they outnumber the ASCII ones. */
#if defined(__SSE2__)
        size_t sse_from = 0; /* after a block it refused: the next eight units go below */
#endif
        for (; i + 1 < len; i += 2) {
#if defined(__SSE2__)
            /* Eight units at a time while they are ASCII or two-octet
             * characters; the store of 16 octets fits, as eight units
             * remain and three octets each are free. */
#if SMS_TEXT_SSSE3
            if (ssse3) {
                if (i + 16 <= len && i >= sse_from) {
                    utf16_blocks_ssse3(in, len, &i, &o);
                    if (i + 16 <= len)
                        sse_from = i + 16; /* refused */
                }
            } else
#endif
            {
                while (i + 16 <= len && i >= sse_from) {
                    size_t n = utf16_bmp2_block8(in + i, o);
                    if (!n) {
                        sse_from = i + 16;
                        break;
                    }
                    o += n;
                    i += 16;
                }
            }
#endif
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
            /* Four units at a time while they are Cyrillic (U+0400-U+04FF,
             * first octet 0x04) or ASCII (U+0001-U+007F), the bulk of Russian
             * text: a window takes its first unit's kind and writes the
             * prefix of that kind in one store.  U+04xx is 0xD0 | xx >> 6,
             * 0x80 | (xx & 0x3F) in UTF-8, built for four lanes at once;
             * ASCII units are their second octets, packed.  A window whose
             * first unit is neither goes to the tests below.  The eight
             * octets stored fit: at least four units remain, and three
             * octets each are free (the condition above). */
            while (i + 8 <= len) {
                uint64_t v;
                memcpy(&v, in + i, 8); /* little-endian: unit k's octets at 2k, 2k+1 */
                uint64_t not_cyr = (v & 0x00FF00FF00FF00FFULL) ^ 0x0004000400040004ULL;
                if (!(not_cyr & 0xFFFF)) {
                    uint64_t utf8 = (v & 0x3F003F003F003F00ULL) |
                                    (v >> 14 & 0x0003000300030003ULL) | 0x80D080D080D080D0ULL;
                    memcpy(o, &utf8, 8);
                    unsigned k = not_cyr ? (unsigned)__builtin_ctzll(not_cyr) / 16 : 4;
                    o += 2 * k;
                    i += 2 * k;
                    continue;
                }
                /* ASCII lane: first octet 0, second octet 0x01-0x7F (with
                 * its high bit clear, adding 0x7F carries into bit 7
                 * exactly when it is not 0). */
                uint64_t nonzero = ((v & 0x7F007F007F007F00ULL) + 0x7F007F007F007F00ULL) &
                                   0x8000800080008000ULL;
                uint64_t not_ascii =
                    (v & 0x80FF80FF80FF80FFULL) | (nonzero ^ 0x8000800080008000ULL);
                if (not_ascii & 0xFFFF)
                    break;
                uint64_t x = v >> 8 & 0x00FF00FF00FF00FFULL;
                x = (x | x >> 8) & 0x0000FFFF0000FFFFULL;
                x = (x | x >> 16) & 0xFFFFFFFFULL;
                memcpy(o, &x, 8);
                unsigned k = not_ascii ? (unsigned)__builtin_ctzll(not_ascii) / 16 : 4;
                o += k;
                i += 2 * k;
            }
            if (i + 1 >= len)
                break;
#endif
            uint32_t u = (uint32_t)in[i] << 8 | in[i + 1];
            if (u - 0x80u < 0x780u) {
                o[0] = (char)(0xC0 | u >> 6);
                o[1] = (char)(0x80 | (u & 0x3F));
                o += 2;
            } else if (u - 1u < 0x7Fu) {
                *o++ = (char)u;
            } else if (u >= 0x800 && (u < 0xD800 || u > 0xDFFF) && u != UNI_REPL) {
                o[0] = (char)(0xE0 | u >> 12);
                o[1] = (char)(0x80 | (u >> 6 & 0x3F));
                o[2] = (char)(0x80 | (u & 0x3F));
                o += 3;
            } else {
                break;
            }
        }
        w->len = (size_t)(o - w->out);
    }
    while (i + 1 < len && !w->full) {
        uint32_t u = (uint32_t)in[i] << 8 | in[i + 1];
        i += 2;
        if (u >= 0xD800 && u <= 0xDBFF) {
            if (i + 1 < len) {
                uint32_t l = (uint32_t)in[i] << 8 | in[i + 1];
                if (l >= 0xDC00 && l <= 0xDFFF) {
                    i += 2;
                    wr_put(w, 0x10000 + ((u - 0xD800) << 10) + (l - 0xDC00));
                    continue;
                }
            }
            wr_put(w, UNI_REPL); /* high surrogate without its low half */
        } else if (u >= 0xDC00 && u <= 0xDFFF) {
            wr_put(w, UNI_REPL); /* low surrogate alone */
        } else {
            wr_put(w, u);
        }
    }
    if (i < len && !w->full)
        wr_put(w, UNI_REPL); /* odd trailing octet */
}

static void decode_utf16be_base(struct wr *w, const uint8_t *in, size_t len)
{
    decode_utf16be_t(w, in, len, 0);
}

#if SMS_TEXT_SSSE3
static __attribute__((target("ssse3"))) void decode_utf16be_ssse3(struct wr *w, const uint8_t *in, size_t len)
{
    decode_utf16be_t(w, in, len, 1);
}
#endif

static void decode_utf16be(struct wr *w, const uint8_t *in, size_t len)
{
#if SMS_TEXT_SSSE3
    if (have_ssse3()) {
        decode_utf16be_ssse3(w, in, len);
        return;
    }
#endif
    decode_utf16be_base(w, in, len);
}

const char *sms_charset_name(enum sms_charset cs)
{
    switch (cs) {
    case SMS_CS_GSM: return "gsm";
    case SMS_CS_ASCII: return "ascii";
    case SMS_CS_LATIN1: return "latin1";
    case SMS_CS_CYRILLIC: return "iso-8859-5";
    case SMS_CS_HEBREW: return "iso-8859-8";
    case SMS_CS_UCS2: return "ucs2";
    case SMS_CS_BINARY: return "binary";
    case SMS_CS_UNSUPPORTED: return "unsupported";
    }
    return "unknown";
}

int sms_text_decode(enum sms_charset cs, const struct sms_text_opts *o, const uint8_t *ud,
                    size_t len, unsigned fill_bits, char *out, size_t cap, size_t *outlen,
                    unsigned *bad)
{
    struct wr w = {out, cap, 0, 0, 0};
    int rc = 0;
    if (outlen)
        *outlen = 0;
    if (cap == 0)
        return len ? SG_ENOSPC : 0;
    out[0] = '\0';
    if (!ud)
        len = 0;
    switch (cs) {
    case SMS_CS_GSM: {
        int packed = o && o->gsm_packing == SMS_GSM_PACKED;
        if (packed && fill_bits > 6)
            return SG_EINVAL;
        decode_gsm(&w, ud, len, packed, fill_bits);
        break;
    }
    case SMS_CS_ASCII:
    case SMS_CS_LATIN1:
        for (size_t i = 0; i < len && !w.full;) {
            i += copy_ascii_blocks(&w, ud + i, len - i);
            /* The block it stopped at (or the tail) one by one. */
            size_t stop = len - i > 16 ? i + 16 : len;
            for (; i < stop && !w.full; i++)
                wr_put(&w, cs == SMS_CS_LATIN1 || ud[i] < 0x80 ? ud[i] : UNI_REPL);
        }
        break;
    case SMS_CS_CYRILLIC:
        for (size_t i = 0; i < len && !w.full; i++)
            wr_put(&w, iso8859_5(ud[i]));
        break;
    case SMS_CS_HEBREW:
        for (size_t i = 0; i < len && !w.full; i++) {
            uint32_t cp = ud[i] < 0xA0 ? ud[i] : iso8859_8_hi[ud[i] - 0xA0];
            wr_put(&w, cp ? cp : UNI_REPL);
        }
        break;
    case SMS_CS_UCS2:
        decode_utf16be(&w, ud, len);
        break;
    default:
        return SG_ENOTSUP;
    }
    out[w.len] = '\0';
    if (w.full)
        rc = SG_ENOSPC;
    if (outlen)
        *outlen = w.len;
    if (bad)
        *bad += w.bad;
    return rc;
}

/* --- encoders (tests, generator) --- */

/* Next code point of UTF-8 at s[*i..len); -1 on an invalid sequence
 * (overlong, surrogate, > U+10FFFF, truncated). */
static int32_t utf8_next(const uint8_t *s, size_t len, size_t *i)
{
    uint8_t b = s[*i];
    uint32_t cp;
    size_t n;
    if (b < 0x80) {
        (*i)++;
        return b;
    } else if ((b & 0xE0) == 0xC0) {
        cp = b & 0x1F;
        n = 1;
    } else if ((b & 0xF0) == 0xE0) {
        cp = b & 0x0F;
        n = 2;
    } else if ((b & 0xF8) == 0xF0) {
        cp = b & 0x07;
        n = 3;
    } else {
        return -1;
    }
    if (*i + n >= len)
        return -1; /* truncated */
    for (size_t k = 1; k <= n; k++) {
        uint8_t c = s[*i + k];
        if ((c & 0xC0) != 0x80)
            return -1;
        cp = cp << 6 | (c & 0x3F);
    }
    static const uint32_t min[4] = {0, 0x80, 0x800, 0x10000};
    if (cp < min[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return -1;
    *i += n + 1;
    return (int32_t)cp;
}

int sms_gsm_encode(const char *utf8, size_t len, uint8_t *out, size_t cap, size_t *outlen)
{
    const uint8_t *s = (const uint8_t *)utf8;
    size_t i = 0, o = 0;
    while (i < len) {
        size_t at = i;
        int32_t cp = utf8_next(s, len, &i);
        int code = -1, ext = 0;
        if (cp == 0x00C7) /* capital C cedilla: GSM has only 0x09 */
            cp = 0x00E7;
        for (int k = 0; cp >= 0 && k < 128 && code < 0; k++)
            if (k != GSM_ESC && gsm_default[k] == (uint32_t)cp)
                code = k;
        for (size_t k = 0; cp >= 0 && code < 0 && k < SG_ARRAY_LEN(gsm_ext); k++)
            if (gsm_ext[k].cp == (uint32_t)cp) {
                code = gsm_ext[k].code;
                ext = 1;
            }
        if (code < 0) {
            if (outlen)
                *outlen = at;
            return SG_EINVAL;
        }
        if (o + (size_t)ext + 1 > cap) {
            if (outlen)
                *outlen = o;
            return SG_ENOSPC;
        }
        if (ext)
            out[o++] = GSM_ESC;
        out[o++] = (uint8_t)code;
    }
    if (outlen)
        *outlen = o;
    return 0;
}

int sms_ucs2_encode(const char *utf8, size_t len, uint8_t *out, size_t cap, size_t *outlen)
{
    const uint8_t *s = (const uint8_t *)utf8;
    size_t i = 0, o = 0;
    while (i < len) {
        int32_t cp = utf8_next(s, len, &i);
        if (cp < 0) {
            if (outlen)
                *outlen = o;
            return SG_EINVAL;
        }
        size_t need = cp >= 0x10000 ? 4 : 2;
        if (o + need > cap) {
            if (outlen)
                *outlen = o;
            return SG_ENOSPC;
        }
        if (cp >= 0x10000) {
            uint32_t v = (uint32_t)cp - 0x10000;
            uint32_t hi = 0xD800 + (v >> 10), lo = 0xDC00 + (v & 0x3FF);
            out[o++] = (uint8_t)(hi >> 8);
            out[o++] = (uint8_t)hi;
            out[o++] = (uint8_t)(lo >> 8);
            out[o++] = (uint8_t)lo;
        } else {
            out[o++] = (uint8_t)(cp >> 8);
            out[o++] = (uint8_t)cp;
        }
    }
    if (outlen)
        *outlen = o;
    return 0;
}
