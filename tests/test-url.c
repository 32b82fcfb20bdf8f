/* URL and bare-domain extraction (filter/url-extract.h): spellings seen in
 * SMS spam, defanged forms, hosts that must not be found, domain lists
 * matched on parents, and the shipped list files. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <stdlib.h>

#include "testutil.h"
#include "url-extract.h"
#include "url-extract-ref.h"

/* Extracts from s and returns the hosts joined by ' ' in buf. */
static const char *hosts(const char *s, unsigned *flags_or)
{
    static char buf[1024];
    struct url_hit h[8];
    size_t n = url_extract(s, strlen(s), h, 8);
    buf[0] = '\0';
    if (flags_or)
        *flags_or = 0;
    for (size_t i = 0; i < n; i++) {
        if (i)
            strcat(buf, " ");
        strcat(buf, h[i].host);
        if (flags_or)
            *flags_or |= h[i].flags;
        /* the span must lie inside the text and start at the URL */
        CHECK(h[i].off + h[i].len <= strlen(s));
        CHECK(h[i].host_len == strlen(h[i].host));
    }
    return buf;
}

static void test_vectors(void)
{
    unsigned f;
    CHECK_EQ_STR(hosts("Vash kod 1234. Ne soobshayte nikomu.", NULL), "");
    CHECK_EQ_STR(hosts("Login: https://qiwi-secure.xyz/login?id=7", &f), "qiwi-secure.xyz");
    CHECK(f & URL_F_SCHEME);
    CHECK_EQ_STR(hosts("Podtverdite: qiwi-secure.xyz/login", &f), "qiwi-secure.xyz");
    CHECK(!(f & URL_F_SCHEME));
    CHECK_EQ_STR(hosts("go to WWW.Example.COM now", NULL), "www.example.com");
    CHECK_EQ_STR(hosts("hxxp://evil[.]top/a", &f), "evil.top");
    CHECK(f & URL_F_DEFANGED);
    CHECK_EQ_STR(hosts("hxxps://bank(.)login(.)ru", &f), "bank.login.ru");
    CHECK(f & URL_F_DEFANGED);
    CHECK_EQ_STR(hosts("http://qiwi.com@phish.icu/x", &f), "phish.icu");
    CHECK(f & URL_F_USERINFO);
    CHECK_EQ_STR(hosts("see bit.ly/3xYz and t.me/joinchat", NULL), "bit.ly t.me");
    CHECK_EQ_STR(hosts("(visit qiwi.com.)", NULL), "qiwi.com");
    CHECK_EQ_STR(hosts("\xc2\xabpromo.site\xc2\xbb", NULL), "promo.site");
    /* IDN host in Cyrillic, upper case folded */
    CHECK_EQ_STR(hosts("\xd0\xa1\xd0\x90\xd0\x99\xd0\xa2.\xd0\xa0\xd0\xa4/x", NULL),
                 "\xd1\x81\xd0\xb0\xd0\xb9\xd1\x82.\xd1\x80\xd1\x84");
    CHECK_EQ_STR(hosts("http://192.168.1.10/pay", &f), "192.168.1.10");
    CHECK(f & URL_F_IP);
    /* not domains */
    CHECK_EQ_STR(hosts("e.g. 1.50 rub, file.txt, v.2, Ok.so, i.e.", NULL), "");
    CHECK_EQ_STR(hosts("user@mail", NULL), "");
    CHECK_EQ_STR(hosts("http://", NULL), "");
    CHECK_EQ_STR(hosts("http://localhost/", NULL), "");
    /* duplicates once */
    CHECK_EQ_STR(hosts("a.xyz a.xyz http://a.xyz", NULL), "a.xyz");
    /* a scheme spaced out over words before its host: the span starts at
     * the scheme (the scan starts words before the separator) */
    CHECK_EQ_STR(hosts("Zhmi http ://x.y.xyz seichas", &f), "x.y.xyz");
    CHECK(f & URL_F_SCHEME);
    CHECK_EQ_STR(hosts("Zhmi https  :  //pay.top/a", &f), "pay.top");
    CHECK(f & URL_F_SCHEME);
    {
        struct url_hit h[2];
        const char *t = "Zhmi http ://x.y.xyz";
        CHECK(url_extract(t, strlen(t), h, 2) == 1 && h[0].off == 5);
    }
    /* email domain */
    CHECK_EQ_STR(hosts("pishite na help@qiwi-support.top", NULL), "qiwi-support.top");
}

static void test_bounds(void)
{
    /* a host longer than URL_HOST_MAX is skipped, not truncated into a
     * wrong parent */
    char big[2048];
    memset(big, 'a', 600);
    memcpy(big + 600, ".com", 5);
    struct url_hit h[2];
    CHECK_EQ_INT(url_extract(big, strlen(big), h, 2), 0);
    /* max respected */
    CHECK_EQ_INT(url_extract("a.ru b.ru c.ru d.ru", 19, h, 2), 2);
    CHECK_EQ_INT(url_extract(NULL, 0, h, 2), 0);
    /* truncated UTF-8 at the end does not read past */
    CHECK_EQ_INT(url_extract("x.ru \xd0", 6, h, 2), 1);
}

/* url_extract and the reference extractor (url-extract-ref.h) give the
 * same hits on text[0..len), read from an exact-size copy. */
static void same_as_ref(const char *text, size_t len)
{
    struct url_hit a[8], b[8];
    char *exact = malloc(len ? len : 1), why[512];
    CHECK(exact != NULL);
    if (!exact)
        return;
    memcpy(exact, text, len);
    size_t na = url_extract(exact, len, a, 8), nb = url_extract_ref(text, len, b, 8);
    free(exact);
    CHECK_MSG(!url_hits_differ(text, len, a, na, b, nb, why, sizeof why), "%s", why);
}

/* The shortcuts: a full stop that ends a word is skipped unless a '/'
 * came before it (a scheme may carry the host past it); host labels are
 * read sixteen bytes at a time; TLDs are compared as words. */
/* Up to parts atoms picked at random (an LCG in *seed), concatenated into
 * buf while they fit; returns the length. */
static size_t random_text(const char *const *atoms, size_t n_atoms, size_t parts, uint32_t *seed,
                          char *buf, size_t cap)
{
    size_t len = 0;
    for (size_t p = 0; p < parts; p++) {
        *seed = *seed * 1103515245u + 12345u;
        const char *a = atoms[(*seed >> 16) % n_atoms];
        size_t al = strlen(a);
        if (len + al > cap)
            break;
        memcpy(buf + len, a, al);
        len += al;
    }
    return len;
}

static void test_shortcuts(void)
{
    static const char *const texts[] = {
        "Ok lar... Joking wif u oni...", "Ya na meste. Vyhodi.", "a.", ".", "..", ". .",
        "http://a.@b.ru", "http://a.:x@b.ru/p", "hxxp://a.@b.xyz go.", "h**p://x.@evil.top.",
        "http: //a.@b.com", "http : //a.@b.com", "http[:]//a.@b.com", "http:\\/\\/a.@b.com",
        "see a. http://b.ru.", "12/03. qiwi.com.", "x/y. z.ru", "evil[.]ru", "evil(.)ru.",
        "evil{.}ru", "evil[.]", "evil.]ru", "evil.)ru", "evil.}ru", "evil.[dot]ru",
        "word.\xd0\xb0.\xd1\x80\xd1\x84", "word.\xe2\x80\x94 a.ru",
        "\xd0\x9a\xd0\xbe\xd0\xb4. \xd1\x81\xd0\xb0\xd0\xb9\xd1\x82.\xd1\x80\xd1\x84.",
        "x.\x01 y.ru", "x.\"y.ru\"", "https://qiwi.com@phish.icu/x.", "1.50. www.a.ru.",
        "QIWI: Vash koshelek zablokirovan. Podtverdite dannye: http://qiwi-secure.xyz/login",
        "FREE entry into our 250 weekly comp just text WIN to 80086 NOW. 18 T&C www.txttowin.co.uk",
        /* labels of 15, 16, 17 bytes, upper case, at and away from the end */
        "ABCDEFGHIJKLMNO.RU", "ABCDEFGHIJKLMNOP.RU", "ABCDEFGHIJKLMNOPQ.ru/x",
        "go http://Very-Long_Label-0123456789.Example-Host.XYZ/path now",
        "a.Bc-_9ZzAaMmNn01234567", "x http://qiwi.com", "qiwi-secure.xyz",
    };
    for (size_t i = 0; i < SG_ARRAY_LEN(texts); i++)
        same_as_ref(texts[i], strlen(texts[i]));
    /* hosts around the URL_HOST_MAX limit, labels of every length */
    static char t[700];
    for (size_t n = 230; n < 270; n++)
        for (int scheme = 0; scheme < 2; scheme++) {
            size_t k = scheme ? (size_t)snprintf(t, sizeof t, "http://") : 0;
            for (size_t j = 0; j < n; j++)
                t[k++] = j % 17 == 16 ? '.' : (char)('A' + j % 26);
            k += (size_t)snprintf(t + k, sizeof t - k, ".com/x");
            same_as_ref(t, k);
        }
    /* random text rich in what the shortcuts look at */
    static const char *const atoms[] = {
        ".", ". ", "...", "/", "//", ":", "@", " ", "http", "hxxp", "h**p", "://", "[.]",
        "(.)", "{.}", "[dot]", "ru", "com", "xyz", "Www", "a", "Qiwi", "-", "_", "1", "\xd0\xb0",
        "\xd1\x80\xd1\x84", "\xe2\x80\x94", ",", ")", "]", "}", "\\", "?", "#",
        "ABCDEFGHIJKLMNOPQRST",
    };
    uint32_t seed = 7;
    for (int round = 0; round < 20000; round++) {
        char buf[256];
        size_t len = random_text(atoms, SG_ARRAY_LEN(atoms), 1 + (size_t)round % 24, &seed, buf, sizeof buf);
        same_as_ref(buf, len);
    }
    /* Longer texts, sentences with full stops between URLs: next_sep()
     * passes over the dead ones several sixteen-byte blocks apart, before
     * and after a '/' (which stops that). */
    static const char *const words[] = {
        "Ok. ", "lar... ", "see ", "x.ru ", "http://a.b.ru/c. ", "t.me/x ", "1/2. ", "end.",
        "Zaim do 30000 rub. ", "Vash kod: 1234. ", "qiwi-secure.xyz/login ", "a[.]ru. ", "/ ",
        "hxxp://evil[dot]icu ", "\xd0\x9a\xd0\xbe\xd0\xb4. ", "www.x.co.uk. ", "v.2, ", "e.g. ",
    };
    for (int round = 0; round < 20000; round++) {
        char buf[600];
        size_t len = random_text(words, SG_ARRAY_LEN(words), 1 + (size_t)round % 40, &seed, buf, sizeof buf);
        same_as_ref(buf, len);
        if (len > 1)
            same_as_ref(buf, len - 1); /* ending on the last full stop, or just before it */
    }

    /* TLDs: every listed one, and near misses, as the reference says */
    for (size_t i = 0; i < SG_ARRAY_LEN(ref_tlds); i++) {
        const char *tld = ref_tlds[i];
        size_t n = strlen(tld);
        char v[16];
        CHECK_MSG(url_tld_known(tld, n), "%s", tld);
        CHECK(!url_tld_known(tld, n - 1) || ref_tld_known(tld, n - 1));
        memcpy(v, tld, n);
        for (int c = 0; c < 256; c += 7) {
            v[n] = (char)c; /* one byte more, a NUL among them */
            CHECK(url_tld_known(v, n + 1) == ref_tld_known(v, n + 1));
        }
    }
    for (int round = 0; round < 20000; round++) {
        static const char alpha[] = "abcmoruxyz-p1\xd1\x80\x84";
        char v[12];
        size_t n = (size_t)round % 11;
        for (size_t j = 0; j < n; j++) {
            seed = seed * 1103515245u + 12345u;
            v[j] = alpha[(seed >> 16) % (sizeof alpha - 1)];
        }
        CHECK(url_tld_known(v, n) == ref_tld_known(v, n));
    }
    CHECK(!url_tld_known("co\0", 3) && url_tld_known("co", 2) && !url_tld_known("Com", 3));
    CHECK(url_tld_known("services", 8) && !url_tld_known("servicess", 9));
}

/* Scheme authorities: the host is parsed before the search for a user
 * part, which runs only when the host does not end where the authority
 * does.  Random authorities of user parts, ports, hosts with defanged
 * dots and the bytes that end them ('/', '?', '#', white space, '<', end
 * of text) or do not ('@', ':', '-', '_', '.', '%'), some longer than the
 * 512 bytes searched for an '@'; against the reference. */
static void test_authority(void)
{
    static const char *const schemes[] = {"http://", "https://", "hxxp://", "h**ps://", "HTTP://",
                                          "http : //", "http[:]//", "http:\\/\\/"};
    static const char *const atoms[] = {
        "qiwi", "secure-", "x_", "evil", ".", "[.]", "(dot)", "{.}", "[dot]", "ru", "xyz", "com",
        "\xd1\x81\xd0\xb1\xd0\xb5\xd1\x80", "\xd1\x80\xd1\x84", "@", "@", ":", ":8080", "user:pw",
        "-", "_", "%40", "192", "168", "1", "..", ".@",
    };
    static const char *const ends[] = {"", "/", "/login", "?a=1", "#x", " ", "\t", "<", ">", "\"",
                                       ".", "-", "_", "@", ":", "/x@y.ru", " next.ru"};
    uint32_t seed = 41;
    char buf[1400];
    for (int round = 0; round < 40000; round++) {
        seed = seed * 1103515245u + 12345u;
        size_t len = (size_t)snprintf(buf, sizeof buf, "%s%s", round & 1 ? "go " : "",
                                      schemes[(seed >> 16) % SG_ARRAY_LEN(schemes)]);
        len += random_text(atoms, SG_ARRAY_LEN(atoms), 1 + (size_t)round % 12, &seed, buf + len,
                           sizeof buf - 20 - len);
        seed = seed * 1103515245u + 12345u;
        const char *e = ends[(seed >> 16) % SG_ARRAY_LEN(ends)];
        memcpy(buf + len, e, strlen(e));
        len += strlen(e);
        same_as_ref(buf, len);
    }
    /* authorities past 512 bytes: a host of defanged dots ("a[dot]"
     * is six bytes of text for two of host), an '@' before and after
     * the 512th byte, or none */
    for (size_t labels = 60; labels < 110; labels += 3)
        for (int at = 0; at < 3; at++) {
            size_t len = (size_t)snprintf(buf, sizeof buf, "http://");
            for (size_t k = 0; k < labels; k++) {
                memcpy(buf + len, k + 1 < labels ? "a[dot]" : "ru", k + 1 < labels ? 6 : 2);
                len += k + 1 < labels ? 6 : 2;
                if (at && k == (at == 1 ? 10 : 95))
                    buf[len++] = '@';
            }
            memcpy(buf + len, "/p", 2);
            same_as_ref(buf, len + 2);
            same_as_ref(buf, len);
        }
}

static void test_parents(void)
{
    domain_set_t *s = domain_set_new();
    CHECK(s != NULL);
    CHECK_EQ_INT(domain_set_add(s, "Evil.XYZ.", 7, 0), 0);
    CHECK_EQ_INT(domain_set_add(s, "login.evil.xyz", 9, 0), 0);
    CHECK_EQ_INT(domain_set_add(s, "evil.xyz", 3, 0), 0); /* dup keeps 7 */
    CHECK_EQ_INT(domain_set_add(s, "bad domain", 1, 0), SG_EINVAL);
    CHECK_EQ_INT(domain_set_add(s, "", 1, 0), SG_EINVAL);
    CHECK_EQ_INT(domain_set_seal(s), 0);
    CHECK_EQ_INT(domain_set_count(s), 2);
    const struct domain_entry *d = domain_set_match(s, "a.b.evil.xyz", 12);
    CHECK(d && strcmp(d->domain, "evil.xyz") == 0 && d->score == 7);
    d = domain_set_match(s, "x.login.evil.xyz", 16);
    CHECK(d && strcmp(d->domain, "login.evil.xyz") == 0);
    CHECK(domain_set_match(s, "notevil.xyz", 11) == NULL);
    CHECK(domain_set_match(s, "xyz", 3) == NULL);
    CHECK(domain_set_match(s, "evil.xyz.com", 12) == NULL);
    domain_set_free(s);
    domain_set_free(NULL);

    CHECK_EQ_INT(url_next_parent("a.b.c", 5, 0), 2);
    CHECK_EQ_INT(url_next_parent("a.b.c", 5, 2), 4);
    CHECK_EQ_INT(url_next_parent("a.b.c", 5, 4), -1);
    CHECK_EQ_INT(url_next_parent("a.", 2, 0), -1);
}

static void test_files(void)
{
    char err[256] = "";
    domain_set_t *s = domain_set_new();
    int rc = domain_set_load(s, test_source_path("rules/domains.list"), 5, err, sizeof err);
    CHECK_MSG(rc == 0, "%s", err);
    CHECK(domain_set_seal(s) == 0);
    CHECK(domain_set_count(s) >= 10);
    CHECK(domain_set_match(s, "qiwi-secure.xyz", 15) != NULL);
    CHECK(domain_set_match(s, "qiwi.com", 8) == NULL);
    CHECK(domain_set_match(s, "qiwi.ru", 7) == NULL);
    domain_set_free(s);

    s = domain_set_new();
    rc = domain_set_load(s, test_source_path("rules/shorteners.list"), 2, err, sizeof err);
    CHECK_MSG(rc == 0, "%s", err);
    CHECK(domain_set_seal(s) == 0);
    CHECK(domain_set_match(s, "bit.ly", 6) != NULL);
    CHECK(domain_set_match(s, "clck.ru", 7) != NULL);
    domain_set_free(s);

    /* errors carry file:line */
    char path[256];
    snprintf(path, sizeof path, "/tmp/test-url-%d.list", (int)getpid());
    FILE *f = fopen(path, "w");
    if (f) {
        fputs("# comment\n\ngood.com 3\nbad.com notanumber\n", f);
        fclose(f);
        s = domain_set_new();
        rc = domain_set_load(s, path, 1, err, sizeof err);
        CHECK_EQ_INT(rc, SG_EPARSE);
        CHECK_MSG(strstr(err, ":4: bad score") != NULL, "%s", err);
        domain_set_free(s);
        remove(path);
    }
    s = domain_set_new();
    CHECK(domain_set_load(s, "/nonexistent/x.list", 1, err, sizeof err) < 0);
    domain_set_free(s);
}

int main(void)
{
    test_vectors();
    test_bounds();
    test_shortcuts();
    test_authority();
    test_parents();
    test_files();
    return test_summary();
}
