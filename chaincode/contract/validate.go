package contract

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Bounds on every input; a value outside them is INVALID_ARGUMENT and nothing is written.
const (
	maxNameLen        = 64
	maxMSPIDLen       = 128
	maxCategoryLen    = 64
	maxTextLen        = 1024
	maxURLLen         = 512
	maxJSONLen        = 16 * 1024
	maxComponents     = 32
	maxMaintainers    = 32
	maxCallsPerBuy    = 1_000_000
	maxPrice          = 1_000_000_000_000     // 10^12 SToken per call
	maxAmount         = 1_000_000_000_000_000 // 10^15 SToken: no amount can exceed the largest cap
	maxLatencyMs      = 3_600_000
	maxAvailabilityBp = 10_000 // basis points: 10000 = 100 %
	maxWeightMilli    = 1_000_000
	maxHalvingEvery   = 1_000_000_000
	defaultPageSize   = 20
	maxPageSize       = 100
)

// validateName accepts 1..64 ASCII letters, digits, '.', '_' or '-', starting with a letter or digit.
// ASCII only so that two names never look alike; no ':' so "org:<MSP>" accounts cannot collide with users.
func validateName(what, s string) error {
	if s == "" {
		return invalidArg("%s must not be empty", what)
	}
	if len(s) > maxNameLen {
		return invalidArg("%s must be at most %d characters", what, maxNameLen)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		if i == 0 && !alnum {
			return invalidArg("%s %q must start with a letter or digit", what, s)
		}
		if !alnum && c != '.' && c != '_' && c != '-' {
			return invalidArg("%s %q may contain only letters, digits, '.', '_' and '-'", what, s)
		}
	}
	return nil
}

// looks are what a name looks like: two names that share a look read alike. A look follows the Unicode
// confusables (UTS #39) for the ASCII that names are made of, case-folded; it is taken of the name as written
// ("paypaI" reads "paypal") and of the name in lower case ("LINUX" reads "linux"), since folding first would
// miss a capital I posing as an l, and mapping first would miss a case variant of a word with an i.
func looks(name string) []string {
	asWritten, folded := skeleton(name), skeleton(strings.ToLower(name))
	if asWritten == folded {
		return []string{folded}
	}
	return []string{asWritten, folded}
}

// skeleton maps the ASCII confusables to one prototype each, then folds case.
func skeleton(name string) string {
	var b strings.Builder
	for i := 0; i < len(name); i++ {
		switch c := name[i]; c {
		case 'I', '1':
			b.WriteByte('l')
		case '0':
			b.WriteByte('o')
		case 'm', 'M':
			b.WriteString("rn")
		case 'w', 'W':
			b.WriteString("vv")
		default:
			if c >= 'A' && c <= 'Z' {
				c += 'a' - 'A'
			}
			b.WriteByte(c)
		}
	}
	return b.String()
}

// invisible reports the characters that change how text reads without being seen: bidirectional controls
// (which can reorder what a reader sees) and zero-width or blank-looking characters (which can hide a difference).
func invisible(r rune) bool {
	return unicode.Is(unicode.Bidi_Control, r) || unicode.Is(unicode.Join_Control, r) || strings.ContainsRune(unseen, r)
}

// unseen: zero-width space, word joiner, zero-width no-break space, soft hyphen, grapheme joiner, Mongolian vowel
// separator, the invisible operators, and the fillers and inherent vowels that show as nothing.
const unseen = "\u200b\u2060\ufeff\u00ad\u034f\u180e\u2061\u2062\u2063\u2064\u115f\u1160\u17b4\u17b5\u3164\uffa0"

// unprintable reports control characters (U+0000 included), line and paragraph separators, U+10FFFF and U+FFFD.
func unprintable(r rune) bool {
	return unicode.IsControl(r) || unicode.In(r, unicode.Zl, unicode.Zp) || r == utf8.MaxRune || r == utf8.RuneError
}

// validateText accepts valid UTF-8 of at most maxRunes runes without unprintable characters (this also excludes
// U+0000, the composite-key separator) or invisible ones; required text must not be empty or blank.
func validateText(what, s string, maxRunes int, required bool) error {
	if s == "" {
		if required {
			return invalidArg("%s must not be empty", what)
		}
		return nil
	}
	if required && strings.TrimSpace(s) == "" {
		return invalidArg("%s must not be blank", what)
	}
	if !utf8.ValidString(s) {
		return invalidArg("%s is not valid UTF-8", what)
	}
	if utf8.RuneCountInString(s) > maxRunes {
		return invalidArg("%s must be at most %d characters", what, maxRunes)
	}
	for _, r := range s {
		if unprintable(r) {
			return invalidArg("%s must not contain control, line-breaking or reserved characters", what)
		}
		if invisible(r) {
			return invalidArg("%s must not contain bidirectional controls or invisible characters (U+%04X)", what, r)
		}
	}
	return nil
}

func validateMSPID(s string) error {
	if err := validateText("MSP ID", s, maxMSPIDLen, true); err != nil {
		return err
	}
	if strings.TrimSpace(s) != s || strings.ContainsRune(s, ' ') {
		return invalidArg("MSP ID %q must not contain spaces", s)
	}
	return nil
}

func validateURL(s string) error {
	if err := validateText("url", s, maxURLLen, true); err != nil {
		return err
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return invalidArg("url %q must be an absolute http or https URL", s)
	}
	if u.User != nil { // https://trusted.example@evil.example/ reads as trusted.example
		return invalidArg("url %q must not contain user information (user@ or user:password@)", s)
	}
	if port := u.Port(); port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return invalidArg("url %q must have a port from 1 to 65535", s)
		}
	}
	return nil
}

// parseInt parses a base-10 integer argument within [lo, hi], in its one canonical form: no sign but '-',
// no leading zeros ("+1" and "007" are refused, so one number has one spelling on the ledger).
func parseInt(what, s string, lo, hi int64) (int64, error) {
	if s == "" || len(s) > 20 {
		return 0, invalidArg("%s must be an integer", what)
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || strconv.FormatInt(v, 10) != s {
		return 0, invalidArg("%s must be an integer in canonical form, got %q", what, s)
	}
	if v < lo || v > hi {
		return 0, invalidArg("%s must be between %d and %d, got %d", what, lo, hi, v)
	}
	return v, nil
}

func checkRange(what string, v, lo, hi int64) error {
	if v < lo || v > hi {
		return invalidArg("%s must be between %d and %d, got %d", what, lo, hi, v)
	}
	return nil
}

// parsePageSize maps "" or "0" to the default page size and caps the rest.
func parsePageSize(s string) (int32, error) {
	if s == "" {
		return defaultPageSize, nil
	}
	v, err := parseInt("pageSize", s, 0, maxPageSize)
	if err != nil {
		return 0, err
	}
	if v == 0 {
		return defaultPageSize, nil
	}
	return int32(v), nil
}

// parseWeight parses a non-negative decimal with at most three fractional digits ("2", "0.5", "1.25")
// into thousandths, so that weights are stored as integers.
func parseWeight(what, s string) (int64, error) {
	whole, frac, hasDot := strings.Cut(s, ".")
	if whole == "" || len(whole) > 7 || (hasDot && (frac == "" || len(frac) > 3)) {
		return 0, invalidArg("%s must be a decimal like 2 or 0.5 with at most 3 decimals, got %q", what, s)
	}
	digits := func(t string) bool {
		for i := 0; i < len(t); i++ {
			if t[i] < '0' || t[i] > '9' {
				return false
			}
		}
		return true
	}
	if !digits(whole) || !digits(frac) {
		return 0, invalidArg("%s must be a decimal like 2 or 0.5 with at most 3 decimals, got %q", what, s)
	}
	w, _ := strconv.ParseInt(whole, 10, 64) // at most 7 digits: cannot fail
	milli := w * 1000
	if frac != "" {
		f, _ := strconv.ParseInt(frac+strings.Repeat("0", 3-len(frac)), 10, 64)
		milli += f
	}
	if milli > maxWeightMilli {
		return 0, invalidArg("%s must be at most %d, got %q", what, maxWeightMilli/1000, s)
	}
	return milli, nil
}

// jsonProblem says what is wrong with a JSON argument in the argument's terms: encoding/json's own messages name
// the chaincode's Go types ("into Go struct field voucherClaim.n of type int64").
func jsonProblem(err error) string {
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case errors.As(err, &typeErr) && typeErr.Field == "":
		return "it cannot be " + typeErr.Value
	case errors.As(err, &typeErr):
		return fmt.Sprintf("field %q cannot be %s", typeErr.Field, typeErr.Value)
	case errors.As(err, &syntaxErr):
		return fmt.Sprintf("it is not JSON (at byte %d)", syntaxErr.Offset)
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		return "it ends too early"
	default: // unknown field "x", and the like
		return strings.TrimPrefix(err.Error(), "json: ")
	}
}

// decodeJSON strictly decodes one JSON object: bounded size, no unknown fields, nothing after it.
func decodeJSON(what, s string, v any) error {
	if s == "" {
		return invalidArg("%s must be a JSON object", what)
	}
	if len(s) > maxJSONLen {
		return invalidArg("%s must be at most %d bytes", what, maxJSONLen)
	}
	dec := json.NewDecoder(bytes.NewReader([]byte(s)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return invalidArg("%s is not valid: %s", what, jsonProblem(err))
	}
	if _, err := dec.Token(); err != io.EOF {
		return invalidArg("%s has data after the JSON object", what)
	}
	return nil
}
