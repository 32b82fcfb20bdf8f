/* The decoder's reading of a submit_sm_resp message_id as a hexadecimal
 * number: parse_hex_tail16 (sixteen octets at once, from the PDU) gives
 * what parse_numbers gives (a digit at a time), on ids of 1 to 16 octets
 * of hexadecimal digits in both cases with a non-digit anywhere (letters
 * past f, the octets next to the digit and letter ranges, octets at and
 * above 0x80 whose low bits are digits, NUL), each at the end of an
 * exact-size buffer behind sixteen octets of other PDU bytes (hex digits
 * among them, which must be masked off): a read past the id is a
 * sanitizer error.  decoder.c is built into this test, its public names
 * renamed, to reach its static functions. */
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#define decoder_config_default t_decoder_config_default
#define decoder_new t_decoder_new
#define decoder_free t_decoder_free
#define decoder_feed t_decoder_feed
#define decoder_flush t_decoder_flush
#define decoder_get_stats t_decoder_get_stats
#define decoder_stats_write_json t_decoder_stats_write_json
#include "../filter/decoder.c"
#pragma GCC diagnostic pop

static uint64_t rng = 0xD1B54A32D192ED03ULL;
static uint32_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)rng;
}

static unsigned compared, numbers;

static void same_hex(const char *prefix16, const char *id, size_t len, int *mismatches)
{
    char *exact = malloc(16 + len);
    CHECK(exact != NULL);
    if (!exact)
        return;
    memcpy(exact, prefix16, 16);
    memcpy(exact + 16, id, len);
    uint64_t va = 1, vb = 2;
    int ra = parse_hex_tail16(exact + 16, len, &va);
    int rb = parse_numbers(exact + 16, len, PARSE_HEX, NULL, &vb) != 0;
    int same = ra == rb && (!ra || va == vb);
    if (!same && (*mismatches)++ < 5)
        CHECK_MSG(same, "hex readings differ on \"%.*s\": %d %llx / %d %llx", (int)len, id, ra,
                  (unsigned long long)va, rb, (unsigned long long)vb);
    compared++;
    numbers += (unsigned)ra;
    free(exact);
}

static void test_random(void)
{
    static const char hex[] = "0123456789abcdefABCDEF";
    static const char other[] = {'/', ':', '@', '`', 'g', 'G', 'z', '-', ' ', '\0', (char)0xB0,
                                 (char)0xB9, (char)0xE1, (char)0xC6, (char)0x80, (char)0xFF,
                                 0x10, 0x19, 0x20, 0x21, 0x5B, 0x60, 0x7F, 0x40, 0x47, 0x67};
    int mismatches = 0;
    char prefix[16], id[16];
    for (int round = 0; round < 300000; round++) {
        size_t len = 1 + next_rand() % 16;
        for (size_t i = 0; i < 16; i++)
            prefix[i] = next_rand() % 2 ? hex[next_rand() % 22] : (char)next_rand();
        for (size_t i = 0; i < len; i++)
            id[i] = next_rand() % 4 ? hex[next_rand() % 10] : hex[next_rand() % 22];
        if (next_rand() % 3 == 0)
            id[next_rand() % len] = other[next_rand() % sizeof other];
        same_hex(prefix, id, len, &mismatches);
    }
    static const char *const fixed[] = {"ffffffffffffffff", "FFFFFFFFFFFFFFFF", "0000000000000000",
                                        "0", "f", "8F0BD1EA", "1182248381", "00ABCDEF", "123456789abcdef0"};
    memset(prefix, 'f', sizeof prefix);
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
        same_hex(prefix, fixed[i], strlen(fixed[i]), &mismatches);
    CHECK_EQ_INT(mismatches, 0);
    CHECK(numbers > compared / 3);           /* both outcomes are reached */
    CHECK(compared - numbers > compared / 10);
}

int main(void)
{
    test_random();
    return test_summary();
}
