package contract

import (
	"encoding/json"
	"math"
	"reflect"
	"sort"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
)

func codeOf(err error) string { return ErrorCode(err) }

func TestValidateName(t *testing.T) {
	tests := []struct {
		in string
		ok bool
	}{
		{"weather", true}, {"a", true}, {"Weather-API_v2.1", true}, {strings.Repeat("x", maxNameLen), true},
		{"", false}, {strings.Repeat("x", maxNameLen+1), false}, {"-lead", false}, {".lead", false},
		{"has space", false}, {"a\x00b", false}, {"tab\t", false}, {"org:Org1MSP", false}, {"ünï", false},
		{"a/b", false}, {"a\U0010FFFF", false},
	}
	for _, tt := range tests {
		err := validateName("name", tt.in)
		if tt.ok {
			require.NoError(t, err, "%q", tt.in)
		} else {
			require.Equal(t, CodeInvalidArgument, codeOf(err), "%q", tt.in)
		}
	}
}

func TestValidateText(t *testing.T) {
	tests := []struct {
		in       string
		required bool
		ok       bool
	}{
		{"", false, true}, {"", true, false}, {"für ☀ Ω", true, true},
		{strings.Repeat("é", 10), true, true}, {strings.Repeat("é", 11), true, false},
		{"line\nbreak", true, false}, {"nul\x00", true, false}, {"bad\xff", true, false},
		{"max\U0010FFFF", true, false}, {"del\x7f", true, false}, {"c1\u0085", true, false}, {"rep\uFFFD", true, false},
		// Issue 8: text that reads differently from what it is.
		{"evil\u202Etxt.exe", true, false}, {"a\u2066b", true, false}, {"pay\u200Bpal", true, false},
		{"zw\u200Dj", true, false}, {"bom\uFEFF", true, false}, {"lrm\u200E", true, false},
		{"soft\u00ADhy", true, false}, {"fill\u3164", true, false}, {"line\u2028sep", true, false}, {"p\u2029", true, false},
		{" ", true, false}, {" \u00A0 ", true, false}, {" ", false, true}, {"a b", true, true},
	}
	for _, tt := range tests {
		err := validateText("text", tt.in, 10, tt.required)
		if tt.ok {
			require.NoError(t, err, "%q", tt.in)
		} else {
			require.Equal(t, CodeInvalidArgument, codeOf(err), "%q", tt.in)
		}
	}
}

func TestValidateURLAndMSPID(t *testing.T) {
	for _, u := range []string{"https://a.example/x?y=1", "http://10.0.0.1:8080/"} {
		require.NoError(t, validateURL(u), u)
	}
	for _, u := range []string{"", "ftp://a.example", "https://", "/relative", "javascript:alert(1)", "https://a b", "http://%zz",
		"https://a.com@evil.example/", "https://user:pw@a.example/", "https://a.example:99999/", "https://a.example:0/",
		"https://a.example:port/", "https://[::1"} {
		require.Equal(t, CodeInvalidArgument, codeOf(validateURL(u)), u)
	}
	require.NoError(t, validateMSPID("Org1MSP"))
	for _, m := range []string{"", "Org 1", " Org1", "Org1\n", strings.Repeat("m", maxMSPIDLen+1)} {
		require.Equal(t, CodeInvalidArgument, codeOf(validateMSPID(m)), m)
	}
}

func TestParseInt(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"1", 1, true}, {"1000000", 1000000, true}, {"0", 0, false}, {"-1", 0, false}, {"1000001", 0, false},
		{"", 0, false}, {"1.5", 0, false}, {"1e3", 0, false}, {" 1", 0, false}, {"+1", 0, false}, {"0x10", 0, false},
		{"007", 0, false}, {"-0", 0, false}, {"10", 10, true},
		{"99999999999999999999", 0, false}, {"123456789012345678901", 0, false},
	}
	for _, tt := range tests {
		got, err := parseInt("n", tt.in, 1, 1_000_000)
		if tt.ok {
			require.NoError(t, err, tt.in)
			require.Equal(t, tt.want, got)
		} else {
			require.Equal(t, CodeInvalidArgument, codeOf(err), tt.in)
		}
	}
}

func TestParsePageSize(t *testing.T) {
	for in, want := range map[string]int32{"": defaultPageSize, "0": defaultPageSize, "1": 1, "100": 100} {
		got, err := parsePageSize(in)
		require.NoError(t, err)
		require.Equal(t, want, got, in)
	}
	for _, in := range []string{"101", "-1", "x", "1000000"} {
		_, err := parsePageSize(in)
		require.Equal(t, CodeInvalidArgument, codeOf(err), in)
	}
}

func TestParseWeight(t *testing.T) {
	good := map[string]int64{"2": 2000, "0": 0, "0.5": 500, "1.25": 1250, "0.001": 1, "1000": 1_000_000, "007": 7000}
	for in, want := range good {
		got, err := parseWeight("w", in)
		require.NoError(t, err, in)
		require.Equal(t, want, got, in)
	}
	for _, in := range []string{"", ".5", "1.", "1.2345", "-1", "1e3", "abc", "1000.001", "99999999", "1,5", " 1"} {
		_, err := parseWeight("w", in)
		require.Equal(t, CodeInvalidArgument, codeOf(err), in)
	}
}

func TestDecodeJSONIsStrict(t *testing.T) {
	var v struct {
		A int `json:"a"`
	}
	require.NoError(t, decodeJSON("x", `{"a":1}`, &v))
	for _, in := range []string{"", `{"a":1,"b":2}`, `{"a":1}{}`, `{"a":1}}`, `{"a":"1"}`, `[1]`, `{"a":1.5}`,
		`{"a":99999999999999999999}`, "{" + strings.Repeat(" ", maxJSONLen) + "}"} {
		err := decodeJSON("x", in, &v)
		require.Equal(t, CodeInvalidArgument, codeOf(err), in)
		for _, internal := range []string{"Go ", "int", "struct", "json:"} { // the argument's terms, not the chaincode's types
			require.NotContains(t, err.Error(), internal, in)
		}
	}
}

func TestParseInitArgs(t *testing.T) {
	cfg, err := parseInitArgs(defaultInit)
	require.NoError(t, err)
	require.Equal(t, int64(2000), cfg.LambdaMilli, "λ defaults to 2")
	require.Equal(t, int64(1000), cfg.GammaMilli, "γ defaults to 1")

	cfg, err = parseInitArgs(`{"cap":10,"founderName":"f","founderOrg":"A","founderShare":4,"orgShare":3,"maintainers":["A","B"],"initialGrant":1,"grantHalvingEvery":0,"lambda":"0.5","gamma":"3"}`)
	require.NoError(t, err)
	require.Equal(t, int64(500), cfg.LambdaMilli)
	require.Equal(t, int64(3000), cfg.GammaMilli)

	bad := []string{
		`{}`,
		`{"cap":0,"founderName":"f","founderOrg":"A","maintainers":["A"]}`,
		`{"cap":-5,"founderName":"f","founderOrg":"A","maintainers":["A"]}`,
		`{"cap":10,"founderName":"","founderOrg":"A","maintainers":["A"]}`,
		`{"cap":10,"founderName":"f","founderOrg":"A","maintainers":[]}`,
		`{"cap":10,"founderName":"f","founderOrg":"A","maintainers":["A","A"]}`,
		`{"cap":10,"founderName":"f","founderOrg":"A","maintainers":["A B"]}`,
		`{"cap":10,"founderName":"f","founderOrg":"A","founderShare":11,"maintainers":["A"]}`,
		`{"cap":10,"founderName":"f","founderOrg":"A","founderShare":5,"orgShare":3,"maintainers":["A","B"]}`,
		`{"cap":10,"founderName":"f","founderOrg":"A","founderShare":-1,"maintainers":["A"]}`,
		`{"cap":10,"founderName":"f","founderOrg":"A","initialGrant":-1,"maintainers":["A"]}`,
		`{"cap":10,"founderName":"f","founderOrg":"A","grantHalvingEvery":-1,"maintainers":["A"]}`,
		`{"cap":10,"founderName":"f","founderOrg":"A","maintainers":["A"],"lambda":"x"}`,
		`{"cap":10,"founderName":"f","founderOrg":"A","maintainers":["A"],"gamma":"-1"}`,
		`{"cap":10,"founderName":"f","founderOrg":"A","maintainers":["A"],"extra":1}`,
		`{"cap":1000000000000000000,"founderName":"f","founderOrg":"A","maintainers":["A"]}`,
		`{"cap":10,"founderName":"f","maintainers":["A"]}`,
		`{"cap":10,"founderName":"f","founderOrg":"B","maintainers":["A"]}`,
	}
	for _, in := range bad {
		_, err := parseInitArgs(in)
		require.Equal(t, CodeInvalidArgument, codeOf(err), in)
	}
}

func TestParseServiceSpecAndPatch(t *testing.T) {
	s, err := parseServiceSpec(serviceJSON("weather", 10))
	require.NoError(t, err)
	require.Equal(t, int64(10), *s.Price)
	_, err = parseServiceSpec(`{"name":"w","category":"c","url":"https://x.example","price":0}`)
	require.NoError(t, err, "free services and missing QoS are allowed")

	bad := []string{
		`{"name":"w","category":"c","url":"https://x.example"}`,
		`{"name":"w","category":"c","url":"https://x.example","price":-1}`,
		`{"name":"w","category":"c","url":"https://x.example","price":1000000000001}`,
		`{"name":"w","category":"","url":"https://x.example","price":1}`,
		`{"name":"","category":"c","url":"https://x.example","price":1}`,
		`{"name":"w","category":"c","url":"x","price":1}`,
		`{"name":"w","category":"c","url":"https://x.example","price":1,"qos":{"latencyMs":-1}}`,
		`{"name":"w","category":"c","url":"https://x.example","price":1,"qos":{"availabilityBp":10001}}`,
		`{"name":"w","category":"c","url":"https://x.example","price":1,"components":["a"]}`,
		`{"name":"w","category":"c","url":"https://x.example","price":1,"developer":"mallory"}`,
		`{"name":"w","category":"c","url":"https://x.example","price":1,"status":"available"}`,
	}
	for _, in := range bad {
		_, err := parseServiceSpec(in)
		require.Equal(t, CodeInvalidArgument, codeOf(err), in)
	}

	p, err := parseServicePatch(`{"price":5,"description":""}`)
	require.NoError(t, err)
	require.Equal(t, int64(5), *p.Price)
	for _, in := range []string{`{}`, `{"price":-1}`, `{"category":""}`, `{"url":"nope"}`, `{"name":"x"}`,
		`{"developer":"x"}`, `{"description":"a\u0000b"}`, `{"qos":{"latencyMs":3600001}}`, `null`} {
		_, err := parseServicePatch(in)
		require.Equal(t, CodeInvalidArgument, codeOf(err), in)
	}
}

func TestParseMashupSpec(t *testing.T) {
	m, err := parseMashupSpec(mashupJSON("trip", 3, "weather", "maps"))
	require.NoError(t, err)
	require.Equal(t, []string{"weather", "maps"}, m.Components)
	for _, in := range []string{
		mashupJSON("trip", 3),
		mashupJSON("trip", 3, "weather", "weather"),
		mashupJSON("trip", 3, "trip"),
		mashupJSON("trip", 3, ""),
		mashupJSON("trip", -3, "weather"),
		mashupJSON("trip", 3, make([]string, maxComponents+1)...),
		`{"name":"trip","category":"c","url":"https://x.example","price":1}`,
	} {
		_, err := parseMashupSpec(in)
		require.Equal(t, CodeInvalidArgument, codeOf(err), in)
	}
}

func TestParseAccount(t *testing.T) {
	kind, owner, err := parseAccount("alice")
	require.NoError(t, err)
	require.Equal(t, [2]string{ownerUser, "alice"}, [2]string{kind, owner})
	kind, owner, err = parseAccount("org:Org1MSP")
	require.NoError(t, err)
	require.Equal(t, [2]string{ownerOrg, "Org1MSP"}, [2]string{kind, owner})
	for _, in := range []string{"", "org:", "org:a b", "a:b", "x\x00"} {
		_, _, err := parseAccount(in)
		require.Equal(t, CodeInvalidArgument, codeOf(err), in)
	}
}

func TestCheckedArithmetic(t *testing.T) {
	_, err := addChecked(math.MaxInt64, 1)
	require.Equal(t, CodeInternal, codeOf(err))
	_, err = addChecked(math.MinInt64, -1)
	require.Equal(t, CodeInternal, codeOf(err))
	_, err = subChecked(0, math.MinInt64)
	require.Equal(t, CodeInternal, codeOf(err))
	_, err = subChecked(math.MinInt64, 1)
	require.Equal(t, CodeInternal, codeOf(err))
	_, err = mulChecked(math.MaxInt64/2+1, 2)
	require.Equal(t, CodeInternal, codeOf(err))
	_, err = mulChecked(-1, 2)
	require.Equal(t, CodeInternal, codeOf(err))
	v, err := mulChecked(maxPrice, maxCallsPerBuy)
	require.NoError(t, err)
	require.Equal(t, int64(maxPrice*maxCallsPerBuy), v)
	v, err = subChecked(5, 7)
	require.NoError(t, err)
	require.Equal(t, int64(-2), v)
	_, err = Tally{Balance: math.MaxInt64}.plus(Tally{Balance: 1})
	require.Error(t, err)
	_, err = Tally{CallsBought: math.MaxInt64}.plus(Tally{CallsBought: 1})
	require.Error(t, err)
	_, err = Tally{CallsUsed: math.MaxInt64}.plus(Tally{CallsUsed: 1})
	require.Error(t, err)
	_, err = Tally{Compositions: math.MaxInt64}.plus(Tally{Compositions: 1})
	require.Error(t, err)
}

func TestGrantHalvesAndNeverExceedsThePool(t *testing.T) {
	cfg := &config{InitialGrant: 1000, GrantHalvingEvery: 10}
	tests := []struct {
		pool, registrations, want int64
	}{
		{1_000_000, 0, 1000}, {1_000_000, 9, 1000}, {1_000_000, 10, 500}, {1_000_000, 25, 250},
		{1_000_000, 100, 1}, {1_000_000, 10 * 63, 1}, {1_000_000, math.MaxInt64, 1},
		{300, 0, 300}, {0, 0, 0},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, grantFor(cfg, pool{Balance: tt.pool, Registrations: tt.registrations}), "%+v", tt)
	}
	require.Equal(t, int64(1000), grantFor(&config{InitialGrant: 1000}, pool{Balance: 5000, Registrations: 1e6}), "no halving")
	require.Equal(t, int64(0), grantFor(&config{InitialGrant: 0}, pool{Balance: 5000}), "grants disabled")
}

func TestContributionFormula(t *testing.T) {
	require.Equal(t, 0.0, contribution(0, 5, 5, 2000, 1000), "0 when NT = 0")
	// ln(2+1) + 2·4/2 + 1·6/2 = 1.098612 + 4 + 3
	require.InDelta(t, 8.098612, contribution(2, 4, 6, 2000, 1000), 1e-9)
	require.InDelta(t, math.Log(2), contribution(1, 0, 0, 2000, 1000), 1e-6)
	// λ = 0.5, γ = 0
	require.InDelta(t, math.Log(5)+0.5*3/4.0, contribution(4, 3, 100, 500, 0), 1e-6)
}

// Returned objects are JSON with lowerCamelCase fields in alphabetical order, so clients see deterministic bytes.
func TestReturnedFieldsAreAlphabeticalLowerCamelCase(t *testing.T) {
	types := []any{User{}, Contribution{}, Weights{}, RemovalReceipt{}, Service{}, QoS{}, ServicePage{},
		MashupReceipt{}, ServiceCallTime{}, BuyRecord{}, ReduceRecord{}, ServiceUsage{}, ServerGrant{},
		RewardReceipt{}, TokenInfo{}, Balance{}, TransferReceipt{}, Compaction{}, Tally{}, userRecord{},
		config{}, pool{}, identityBinding{}, serviceEvent{}}
	for _, v := range types {
		typ := reflect.TypeOf(v)
		var names []string
		for i := 0; i < typ.NumField(); i++ {
			if !typ.Field(i).IsExported() {
				continue
			}
			tag := typ.Field(i).Tag.Get("json")
			require.NotEmpty(t, tag, "%s.%s has no json tag", typ.Name(), typ.Field(i).Name)
			name, _, _ := strings.Cut(tag, ",")
			r, _ := utf8.DecodeRuneInString(name)
			require.True(t, r >= 'a' && r <= 'z', "%s.%s is not lowerCamelCase", typ.Name(), name)
			names = append(names, name)
		}
		require.True(t, sort.StringsAreSorted(names), "%s fields %v are not alphabetical", typ.Name(), names)
	}
	b, _ := json.Marshal(Balance{Account: "a", Balance: 1})
	require.Equal(t, `{"account":"a","balance":1}`, string(b))
}

func TestErrorHelpers(t *testing.T) {
	require.Equal(t, "", ErrorCode(nil))
	require.True(t, hasCode("NOT_FOUND: x"))
	require.False(t, hasCode("NOT_FOUND x"))
	require.False(t, hasCode("Function X not found"))
	require.Equal(t, "UNAUTHENTICATED: who", unauthenticated("who").Error())
}
