/** @file
 * SMS keywords: the declarative keyword file (etc/keywords.json, format in
 * menus/KEYWORDS.md), compiled per short code, and the matcher the MO router
 * uses.
 *
 * Matching is case- and accent-insensitive: sms_kw_normalize() folds the text
 * to upper case, maps Latin letters with diacritics to their base letters
 * (é -> E, ß -> SS, Œ -> OE; Latin-1 Supplement and Latin Extended-A), turns
 * punctuation and white space into single spaces and trims. A keyword (or an
 * alias, possibly of several words, "STOP ALL") matches when the normalised
 * text equals it or starts with it followed by a space; the longest match
 * wins. The rest of the original text is the keyword's argument.
 *
 * The built-ins HELP, STOP, STOPALL and START exist for every short code with
 * English and Swahili synonyms (sms_kw_builtin_synonyms()); the file may add
 * aliases to them and override their answers.
 *
 * Ownership: a struct sms_keywords is immutable after loading and owned by
 * whoever loaded it; matches point into it and into the caller's text. No I/O
 * besides sms_keywords_load_file(), no logging (errors come back in @p err).
 */
#ifndef USSDGW_SMS_KEYWORDS_H
#define USSDGW_SMS_KEYWORDS_H

#include <stdbool.h>
#include <stddef.h>

/** Largest keyword file accepted (bytes). */
#define SMS_KW_FILE_MAX (256 * 1024)
/** Longest keyword or alias (normalised bytes). */
#define SMS_KW_WORD_MAX 48
/** Longest text sms_kw_normalize() is asked to fold by the router (bytes). */
#define SMS_KW_TEXT_MAX 2048

/** What a keyword leads to. */
enum sms_kw_target {
	SMS_KW_BUILTIN, /**< HELP, STOP, STOPALL, START */
	SMS_KW_MENU,	/**< a menu flow (menus/ID.json), run by the menu interpreter */
	SMS_KW_FORWARD, /**< an HTTP forward to the business (config forwards{}) */
	SMS_KW_REPLY,	/**< a fixed answer */
};
const char *sms_kw_target_name(enum sms_kw_target t);

enum sms_kw_builtin {
	SMS_KW_HELP,
	SMS_KW_STOP,
	SMS_KW_STOPALL,
	SMS_KW_START,
	SMS_KW_BUILTIN_COUNT
};
/** "help", "stop", "stopall", "start". */
const char *sms_kw_builtin_name(enum sms_kw_builtin b);
/** NULL-terminated default synonyms (normalised) of a built-in. */
const char *const *sms_kw_builtin_synonyms(enum sms_kw_builtin b);

/** Answers a short code gives (templates: {service}, {keyword}, {keywords}). */
enum sms_kw_text {
	SMS_KW_TEXT_HELP,
	SMS_KW_TEXT_STOP,
	SMS_KW_TEXT_STOPALL,
	SMS_KW_TEXT_START,
	SMS_KW_TEXT_UNKNOWN,
	SMS_KW_TEXT_COUNT
};

/** One keyword (with its aliases folded into separate words that point here). */
struct sms_kw_entry {
	char keyword[SMS_KW_WORD_MAX + 1]; /**< the primary word, normalised */
	enum sms_kw_target target;
	enum sms_kw_builtin builtin; /**< SMS_KW_BUILTIN */
	char ref[64];		     /**< menu id or forward name */
	char *reply; /**< SMS_KW_REPLY text; for forwards an optional acknowledgement */
};

struct sms_kw_code;
struct sms_keywords;

/** A match: what the text asked for. Pointers are valid while the keywords and the text are. */
struct sms_kw_match {
	const struct sms_kw_code *code;	  /**< the short code's table (exact or "*"); NULL: none */
	const struct sms_kw_entry *entry; /**< NULL: no keyword matched (unknown) */
	const char *word;		  /**< the word or alias that matched (normalised) */
	size_t args_off; /**< offset in the original text where the argument starts */
	char first[SMS_KW_WORD_MAX + 1]; /**< first normalised word of the text (for "unknown") */
};

/**
 * Fold @p len bytes of UTF-8 @p in (see the file comment) into @p out (NUL-terminated).
 * Invalid UTF-8 bytes become separators; characters outside the folded Latin ranges
 * are kept as they are. Never writes more than @p cap bytes.
 * @return the length written, or -1 when @p cap is 0.
 */
long sms_kw_normalize(const char *in, size_t len, char *out, size_t cap);

/**
 * Compile a keyword file held in memory.
 * @param[out] out the table (free with sms_keywords_free())
 * @param[out] err a message naming the short code and keyword at fault
 * @return 0; GW_EMSGSIZE over SMS_KW_FILE_MAX; GW_EPROTO_MALFORMED bad JSON;
 *         GW_ECONFIG a semantic error (unknown target, duplicate word, bad field).
 */
int sms_keywords_load_buffer(const char *buf, size_t len, struct sms_keywords **out, char *err,
			     size_t errsz);
/** As sms_keywords_load_buffer() for a file; GW_ENOENT / GW_EIO when it cannot be read. */
int sms_keywords_load_file(const char *path, struct sms_keywords **out, char *err, size_t errsz);
/** The table with built-ins only (no file): every short code, default answers. */
int sms_keywords_default(struct sms_keywords **out);
void sms_keywords_free(struct sms_keywords *k);

/**
 * Match @p len bytes of @p text sent to @p shortcode.
 * @return 0 (see @p m: entry NULL for an unknown keyword); GW_ENOENT when no table
 *         covers the short code (no exact entry and no "*").
 */
int sms_keywords_match(const struct sms_keywords *k, const char *shortcode, const char *text,
		       size_t len, struct sms_kw_match *m);

/** The short code's table, exact or "*"; NULL when none. */
const struct sms_kw_code *sms_keywords_code(const struct sms_keywords *k, const char *shortcode);
/** Consent service of a short code's table ("default" when the file names none). */
const char *sms_kw_code_service(const struct sms_kw_code *c);
/** Render answer @p which of @p c into @p out (templates filled); @return bytes written. */
size_t sms_kw_code_render(const struct sms_kw_code *c, enum sms_kw_text which, const char *keyword,
			  char *out, size_t cap);
/** Menu ids the file refers to, one per call (@p i from 0); NULL past the end. */
const char *sms_keywords_menu_ref(const struct sms_keywords *k, size_t i);
/** Forward names the file refers to, one per call; NULL past the end. */
const char *sms_keywords_forward_ref(const struct sms_keywords *k, size_t i);

#endif
