/* smsgen-text.h: the generator's own text encoders (UTF-8 in, SMPP
 * short_message octets out).  Included only by smsgen.c.
 *
 * Deliberately independent of filter/: the generator is the ground truth the
 * project's decoder is checked against, so it must not share the decoder's
 * tables.  The GSM 03.38 tables below were typed from 3GPP TS 23.038 §6.2.1
 * (default alphabet) and §6.2.1.1 (extension table).
 */
#ifndef SMSGEN_TEXT_H
#define SMSGEN_TEXT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* TS 23.038 §6.2.1: the default alphabet, septet value -> Unicode.  0x1B is
 * the escape to the extension table (mapped to 0 here: never a character). */
static const uint16_t gsm_basic_to_ucs[128] = {
    0x0040, 0x00A3, 0x0024, 0x00A5, 0x00E8, 0x00E9, 0x00F9, 0x00EC, /* @ £ $ ¥ è é ù ì */
    0x00F2, 0x00C7, 0x000A, 0x00D8, 0x00F8, 0x000D, 0x00C5, 0x00E5, /* ò Ç LF Ø ø CR Å å */
    0x0394, 0x005F, 0x03A6, 0x0393, 0x039B, 0x03A9, 0x03A0, 0x03A8, /* Δ _ Φ Γ Λ Ω Π Ψ */
    0x03A3, 0x0398, 0x039E, 0x0000, 0x00C6, 0x00E6, 0x00DF, 0x00C9, /* Σ Θ Ξ ESC Æ æ ß É */
    0x0020, 0x0021, 0x0022, 0x0023, 0x00A4, 0x0025, 0x0026, 0x0027, /* SP ! " # ¤ % & ' */
    0x0028, 0x0029, 0x002A, 0x002B, 0x002C, 0x002D, 0x002E, 0x002F,
    0x0030, 0x0031, 0x0032, 0x0033, 0x0034, 0x0035, 0x0036, 0x0037,
    0x0038, 0x0039, 0x003A, 0x003B, 0x003C, 0x003D, 0x003E, 0x003F,
    0x00A1, 0x0041, 0x0042, 0x0043, 0x0044, 0x0045, 0x0046, 0x0047, /* ¡ A.. */
    0x0048, 0x0049, 0x004A, 0x004B, 0x004C, 0x004D, 0x004E, 0x004F,
    0x0050, 0x0051, 0x0052, 0x0053, 0x0054, 0x0055, 0x0056, 0x0057,
    0x0058, 0x0059, 0x005A, 0x00C4, 0x00D6, 0x00D1, 0x00DC, 0x00A7, /* ..Z Ä Ö Ñ Ü § */
    0x00BF, 0x0061, 0x0062, 0x0063, 0x0064, 0x0065, 0x0066, 0x0067, /* ¿ a.. */
    0x0068, 0x0069, 0x006A, 0x006B, 0x006C, 0x006D, 0x006E, 0x006F,
    0x0070, 0x0071, 0x0072, 0x0073, 0x0074, 0x0075, 0x0076, 0x0077,
    0x0078, 0x0079, 0x007A, 0x00E4, 0x00F6, 0x00F1, 0x00FC, 0x00E0, /* ..z ä ö ñ ü à */
};

/* TS 23.038 §6.2.1.1: extension table entries (0x1B followed by code). */
static const struct {
    uint8_t code;
    uint16_t ucs;
} gsm_ext[] = {
    {0x0A, 0x000C}, {0x14, 0x005E}, {0x28, 0x007B}, {0x29, 0x007D}, {0x2F, 0x005C},
    {0x3C, 0x005B}, {0x3D, 0x007E}, {0x3E, 0x005D}, {0x40, 0x007C}, {0x65, 0x20AC},
};

/* Reverse lookup built once: Unicode (< 0x400 or €) -> septet, bit 8 set for
 * the extension table, 0xFFFF when not encodable. */
static uint16_t gsm_rev_lo[0x400];
static uint16_t gsm_rev_euro;

static void gsm_tables_init(void)
{
    for (size_t i = 0; i < 0x400; i++)
        gsm_rev_lo[i] = 0xFFFF;
    for (unsigned i = 0; i < 128; i++)
        if (i != 0x1B)
            gsm_rev_lo[gsm_basic_to_ucs[i]] = (uint16_t)i;
    for (size_t i = 0; i < sizeof gsm_ext / sizeof gsm_ext[0]; i++) {
        if (gsm_ext[i].ucs == 0x20AC)
            gsm_rev_euro = 0x100 | gsm_ext[i].code;
        else
            gsm_rev_lo[gsm_ext[i].ucs] = 0x100 | gsm_ext[i].code;
    }
}

/* GSM code for cp: septet, 0x100|code for an extension, 0xFFFF if none. */
static inline uint16_t gsm_code(uint32_t cp)
{
    if (cp < 0x400)
        return gsm_rev_lo[cp];
    if (cp == 0x20AC)
        return gsm_rev_euro;
    return 0xFFFF;
}

/* Decodes UTF-8 (trusted: our own templates, or the corpus) into code
 * points; invalid bytes become U+FFFD.  Returns the count (<= cap). */
static size_t utf8_to_cps(const char *s, size_t n, uint32_t *cps, size_t cap)
{
    const uint8_t *p = (const uint8_t *)s, *e = p + n;
    size_t k = 0;
    while (p < e && k < cap) {
        uint32_t c = *p++;
        int more = 0;
        if (c >= 0xF0 && c < 0xF8) {
            c &= 0x07;
            more = 3;
        } else if (c >= 0xE0) {
            c &= 0x0F;
            more = 2;
        } else if (c >= 0xC0) {
            c &= 0x1F;
            more = 1;
        } else if (c >= 0x80) {
            c = 0xFFFD;
        }
        for (; more > 0; more--) {
            if (p >= e || (*p & 0xC0) != 0x80) {
                c = 0xFFFD;
                break;
            }
            c = c << 6 | (*p++ & 0x3F);
        }
        cps[k++] = c;
    }
    return k;
}

/* Appends the UTF-8 form of cp to out; returns bytes written (1..4). */
static inline size_t utf8_put(uint32_t cp, char *out)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | cp >> 6);
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | cp >> 12);
        out[1] = (char)(0x80 | (cp >> 6 & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | cp >> 18);
    out[1] = (char)(0x80 | (cp >> 12 & 0x3F));
    out[2] = (char)(0x80 | (cp >> 6 & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

enum { TXT_GSM, TXT_LATIN1, TXT_UCS2 };

/* Whether UCS-2 can carry cps[0..n): BMP, no surrogates. */
static int text_ucs2_ok(const uint32_t *cps, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (cps[i] > 0xFFFF || (cps[i] >= 0xD800 && cps[i] < 0xE000))
            return 0;
    return 1;
}

/* Encodes cps[0..n) as unpacked GSM (one septet per octet, escapes as two
 * octets), Latin-1 or UCS-2 big-endian.  off[i] receives the byte offset at
 * which code point i starts (off[n] = total), so callers can cut parts and
 * truncate on character boundaries.  Returns the byte length; the caller
 * has checked encodability and that out holds 2*n bytes. */
static size_t text_encode(int enc, const uint32_t *cps, size_t n, uint8_t *out, uint32_t *off)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        off[i] = (uint32_t)k;
        if (enc == TXT_GSM) {
            uint16_t g = gsm_code(cps[i]);
            if (g & 0x100)
                out[k++] = 0x1B;
            out[k++] = (uint8_t)g;
        } else if (enc == TXT_LATIN1) {
            out[k++] = (uint8_t)cps[i];
        } else {
            out[k++] = (uint8_t)(cps[i] >> 8);
            out[k++] = (uint8_t)cps[i];
        }
    }
    off[n] = (uint32_t)k;
    return k;
}

/* ---------------------------------------------------------------------
 * Built-in message templates.  Placeholders: {c4} {c5} {c6} one-time codes,
 * {amt} an amount, {l4} last card digits, {n} an order number, {hh}:{mm} a
 * time, {dd}.{mo} a date, {tok} a URL token, {shop} a shop, {name} a first
 * name, {ph} a phone number.
 */

static const char *const tpl_otp_qiwi[] = {
    "QIWI: kod {c4} dlya oplaty. Nikomu ne soobshchayte ego",
    "Код подтверждения: {c6}. Никому не сообщайте",
    "QIWI Кошелек: код {c4} для подтверждения платежа {amt} руб.",
    "Your QIWI Wallet confirmation code: {c4}",
};
static const char *const tpl_otp_yoo[] = {
    "Код подтверждения: {c6}. Никому не сообщайте",
    "YooMoney: {c6} - kod dlya vhoda. Nikomu ego ne govorite",
    "Пароль для входа в ЮMoney: {c6}. Не сообщайте его никому, даже сотрудникам ЮMoney",
};
static const char *const tpl_otp_tinkoff[] = {
    "Никому не говорите код {c4}! Вход в Тинькофф",
    "Kod {c4} dlya perevoda {amt} RUB na kartu *{l4}. Nikomu ne soobshchayte",
    "Тинькофф: код {c6} для подтверждения покупки {amt} ₽ в {shop}. Никому не сообщайте этот код, даже если звонят из банка",
};
static const char *const tpl_otp_sber[] = {
    "Код: {c5}. Никому его не сообщайте. СберБанк",
    "SBER: Pokupka {amt}r {shop} Karta*{l4}. Kod: {c6}. Nikomu ne soobshchayte kod!",
    "Для перевода {amt}р получателю {name} с карты *{l4} отправьте код {c5} на 900. Комиссия не взимается",
};
static const char *const tpl_otp_other[] = {
    "Gosuslugi: kod podtverzhdeniya {c6}",
    "Код для входа в Госуслуги: {c6}. Никому его не сообщайте",
    "Your Ozon code: {c4}",
};
static const char *const tpl_ham_service[] = {
    "Ваш заказ {n} доставлен в пункт выдачи. Срок хранения 7 дней",
    "Zakaz {n} peredan v dostavku. Otslezhivat: ozon.ru/t/{tok}",
    "Баланс: {amt} руб. Подключите автоплатеж в личном кабинете",
    "Запись к врачу {dd}.{mo} в {hh}:{mm}. Для отмены ответьте 0",
    "Posylka {n} pribyla v otdelenie. Poluchite do {dd}.{mo}",
    "Your parcel {n} will be delivered on {dd}.{mo} between {hh}:00 and 18:00",
    "Напоминаем: платеж по кредиту {amt} руб. до {dd}.{mo}. Оплатить можно в приложении банка без комиссии. Если уже оплатили, не обращайте внимания",
};
static const char *const tpl_ham_p2p[] = {
    "Мама, я задержусь, буду к {hh}:{mm}",
    "Привет! Встречаемся у метро в {hh}:{mm}, не опаздывай",
    "Ок, перезвоню позже",
    "Купи хлеба и молока, пожалуйста",
    "Ya na meste, vyhodi",
    "С днём рождения! Счастья, здоровья и удачи!",
    "Перевела тебе {amt} р. на карту, проверь",
    "Ok, I'll call you later",
    "Running late, be there in 10 min",
    "Don't forget the meeting at {hh}:{mm} @ office",
    "Café at {hh}:{mm}? Ça va?",
};
/* English ham used when no --corpus is given. */
static const char *const tpl_ham_en[] = {
    "Ok lar... Joking wif u oni...",
    "I'll be home by {hh}:{mm}, can you get the kids?",
    "Thanks for yesterday, had a great time!",
    "Meeting moved to {hh}:{mm}, room 4B",
};

struct campaign {
    const char *id;
    int prob;                 /* relative weight inside the spam farm */
    const char *const *tpl;
    size_t ntpl;
};

static const char *const tpl_loan1[] = {
    "Займ до 30000 руб без отказа! Одобрение за 5 минут: http://zaim-bystro.ru/{tok}",
    "Zaim do 30000 rub bez otkaza! Odobrenie za 5 minut: http://zaim-bystro.ru/{tok}",
};
static const char *const tpl_loan2[] = {
    "Деньги на карту до 50 000 ₽ под 0% для новых клиентов. Без проверок КИ и звонков! Оформить: https://dengi-srazu.top/{tok} Предложение действует до {dd}.{mo}",
};
/* Obfuscated: spaced letters, Latin a/o/p/e/c inside Cyrillic words, digit 3
 * for З. */
static const char *const tpl_loan_obf[] = {
    "З А Й М до 30 000 руб без отказа! Пиши: zaim-bystro.ru/{tok}",
    "3АЙМ нa кapту зa 5 минут бeз пpoвepки КИ: http://bit.ly/{tok}",
    "З.А.Й.М до 50 тыс. руб. без отказа и залога. Звони {ph}",
    "Z A I M do 50000 rub bez otkaza. Pishi: dengi-srazu.top/{tok}",
};
static const char *const tpl_prize1[] = {
    "You have WON a £1000 prize! Call 09061701461 to claim. Claim code KL341. Valid 12hrs only",
    "Congratulations! You've won a £500 Tesco voucher. Claim at http://win-prize.xyz/{tok} [T&Cs apply] ~ reply STOP to opt out",
    "Поздравляем! Вы выиграли iPhone 15. Для получения перейдите: http://priz-2024.ru/{tok}",
};
/* Extension-table characters (escapes) in a long GSM text, so parts may cut
 * an escape sequence. */
static const char *const tpl_promo_esc[] = {
    "[MEGA SALE] {Only today} get 50% off every order over €50 with code {tok} | free delivery | "
    "visit http://best-deals.xyz/{tok} ~ €€€€€€€€€€€€€€ ~ offer ends {dd}.{mo} ~ [no refunds] ~ to stop reply STOP "
    "~ {T&C} apply \\ see site",
};
static const char *const tpl_phish_qiwi[] = {
    "QIWI: Vash koshelek zablokirovan. Podtverdite dannye: http://qiwi-secure.xyz/login",
    "QIWI: Ваш кошелек заблокирован. Для разблокировки перейдите http://qiwi-secure.xyz/login?id={tok}",
    "QIWI: kod {c4} dlya oplaty. Esli eto ne vy, otmenite: http://qiwi-secure.xyz/cancel",
};
static const char *const tpl_phish_sber[] = {
    "СберБанк: Ваша карта заблокирована. Подробности по тел. {ph} или http://sber-bank.online/{tok}",
    "SBER: Spisanie {amt}r. Otmena: http://sber-otmena.ru/{tok}",
};
static const char *const tpl_phish_tinkoff[] = {
    "Tinkoff: podozritelnyj vhod. Esli eto ne vy, zablokirujte: http://tinkoff-help.top/{tok}",
};
static const char *const tpl_spam_en[] = {
    "FREE entry into our £250 weekly comp just text WIN to 80086 NOW. 18 T&C www.txttowin.co.uk",
    "URGENT! Your mobile number has been awarded a £2000 prize GUARANTEED. Call 09061790121",
};

#define TPL(a) a, sizeof(a) / sizeof((a)[0])
enum { CAMP_LOAN1, CAMP_LOAN2, CAMP_LOAN_OBF, CAMP_PRIZE1, CAMP_PROMO_ESC, CAMP_PHISH_QIWI,
       CAMP_PHISH_SBER, CAMP_PHISH_TINKOFF, CAMP_SPAM_EN, CAMP_COUNT };
static const struct campaign campaigns[CAMP_COUNT] = {
    {"loan1", 20, TPL(tpl_loan1)},
    {"loan2", 10, TPL(tpl_loan2)},
    {"loan_obf", 12, TPL(tpl_loan_obf)},
    {"prize1", 12, TPL(tpl_prize1)},
    {"promo_esc", 4, TPL(tpl_promo_esc)},
    {"phish_qiwi", 18, TPL(tpl_phish_qiwi)},
    {"phish_sber", 8, TPL(tpl_phish_sber)},
    {"phish_tinkoff", 4, TPL(tpl_phish_tinkoff)},
    {"spam_en", 12, TPL(tpl_spam_en)},
};

/* Protected sender IDs (owned by one account each) and their look-alikes:
 * alphanumeric Latin only, because a Cyrillic І (U+0406) does not survive
 * GSM 03.38. */
static const char *const lookalike_qiwi[] = {"QlWI", "0IWI", "QIWl", "Q1WI", "QIVVI"};
static const char *const lookalike_sber[] = {"5BER", "SBEP", "S8ER"};
static const char *const lookalike_tinkoff[] = {"Tinkof", "T1nkoff", "Tlnkoff"};
static const char *const lookalike_yoo[] = {"Y00Money", "YooMomey", "Yo0Money"};

static const char *const spam_senders[] = {"Zaim24", "MFO-Online", "INFO", "Dengi", "Prize", "Bonus"};
static const char *const service_senders[] = {"Ozon", "Wildberries", "MTS", "Beeline", "Pochta", "DNS", "Yandex"};
static const char *const shops[] = {"OZON", "WB", "Magnit", "Pyaterochka", "Lenta", "AliExpress"};
static const char *const names[] = {"Ivan I.", "Olga P.", "Sergey K.", "Anna S.", "Dmitry V."};

#endif
