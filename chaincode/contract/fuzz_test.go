package contract

import (
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/hyperledger/fabric-chaincode-go/v2/shim"
	"github.com/stretchr/testify/require"
)

// Run one briefly with e.g. `go test ./contract -run '^$' -fuzz FuzzInvoke -fuzztime 30s`.

func FuzzValidateName(f *testing.F) {
	for _, s := range []string{"weather", "", "a\x00b", "org:x", strings.Repeat("z", 65), "ü"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if err := validateName("name", s); err != nil {
			require.Equal(t, CodeInvalidArgument, ErrorCode(err))
			return
		}
		require.True(t, utf8.ValidString(s))
		require.NotContains(t, s, "\x00")
		require.NotContains(t, s, ":")
		_, err := shim.CreateCompositeKey(nsService, []string{s})
		require.NoError(t, err, "a valid name always makes a valid key")
	})
}

func FuzzParseInt(f *testing.F) {
	for _, s := range []string{"1", "0", "-1", "1e3", "9223372036854775808", "+5", " 7"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := parseInt("n", s, 1, maxCallsPerBuy)
		if err != nil {
			require.Equal(t, CodeInvalidArgument, ErrorCode(err))
			return
		}
		require.True(t, v >= 1 && v <= maxCallsPerBuy)
	})
}

func FuzzParseWeight(f *testing.F) {
	for _, s := range []string{"2", "0.5", "1.234", ".5", "1.", "-1", "1000", "1000.001"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		milli, err := parseWeight("w", s)
		if err != nil {
			require.Equal(t, CodeInvalidArgument, ErrorCode(err))
			return
		}
		require.True(t, milli >= 0 && milli <= maxWeightMilli)
		again, err := parseWeight("w", fmt.Sprintf("%d.%03d", milli/1000, milli%1000))
		require.NoError(t, err)
		require.Equal(t, milli, again)
	})
}

func FuzzParseInitArgs(f *testing.F) {
	f.Add(defaultInit)
	f.Add(`{"cap":10,"founderName":"f","founderOrg":"A","founderShare":5,"orgShare":3,"maintainers":["A","B"]}`)
	f.Add(`{"cap":9223372036854775807,"founderName":"f","founderOrg":"A","orgShare":9223372036854775807,"maintainers":["A","B"]}`)
	f.Fuzz(func(t *testing.T, s string) {
		cfg, err := parseInitArgs(s)
		if err != nil {
			require.Equal(t, CodeInvalidArgument, ErrorCode(err))
			return
		}
		genesis := cfg.FounderShare + cfg.OrgShare*int64(len(cfg.Maintainers))
		require.True(t, cfg.Cap >= 1 && cfg.Cap <= maxAmount)
		require.True(t, genesis >= 0 && genesis <= cfg.Cap)
		require.Contains(t, cfg.Maintainers, cfg.FounderOrg)
	})
}

func FuzzParseServiceSpec(f *testing.F) {
	f.Add(serviceJSON("weather", 10))
	f.Add(`{"name":"w","category":"c","url":"https://x.example","price":-1}`)
	f.Add(`{"name":"w","category":"c","url":"https://x.example","price":1,"qos":{"latencyMs":1}}`)
	f.Fuzz(func(t *testing.T, s string) {
		spec, err := parseServiceSpec(s)
		if err != nil {
			require.Equal(t, CodeInvalidArgument, ErrorCode(err))
			return
		}
		require.NoError(t, validateName("name", spec.Name))
		require.True(t, *spec.Price >= 0 && *spec.Price <= maxPrice)
	})
}

func FuzzParseMashupSpec(f *testing.F) {
	f.Add(mashupJSON("trip", 1, "weather", "maps"))
	f.Add(mashupJSON("trip", 1))
	f.Add(mashupJSON("trip", 1, "trip"))
	f.Fuzz(func(t *testing.T, s string) {
		m, err := parseMashupSpec(s)
		if err != nil {
			require.Equal(t, CodeInvalidArgument, ErrorCode(err))
			return
		}
		require.NotEmpty(t, m.Components)
		seen := map[string]bool{m.Name: true}
		for _, c := range m.Components {
			require.False(t, seen[c], "duplicate or self-reference %q", c)
			seen[c] = true
		}
	})
}

func FuzzParseServicePatch(f *testing.F) {
	f.Add(`{"price":5}`)
	f.Add(`{}`)
	f.Add(`{"url":"https://x.example","qos":{"availabilityBp":10000}}`)
	f.Fuzz(func(t *testing.T, s string) {
		p, err := parseServicePatch(s)
		if err != nil {
			require.Equal(t, CodeInvalidArgument, ErrorCode(err))
			return
		}
		if p.Price != nil {
			require.True(t, *p.Price >= 0)
		}
	})
}

var fuzzFunctions = []string{
	"RegisterUser", "RemoveUser", "QueryUser", "RegisterService", "PublishService", "InvalidateService",
	"CreateMashup", "QueryService", "EditService", "QueryServiceByUser", "QueryServiceByRange", "CallService",
	"GetSpecCallTime", "GetCallTimesOfService", "ReduceCallTime", "RewardService", "BalanceOf", "Transfer",
	"TokenInfo", "AuthorizeServer", "RevokeServer", "QueryServiceByStatus", "Init", "SetContributionWeights",
	"OrgTransfer", "CompactAccount", "CompactService", "BuyCalls", "WhoAmI", "SettleCalls", "UpdateVoucherKey",
	"QueryVoucherKeys", "QueryServerGrant", "GetSpecCallTimes", "NoSuchFunction", "org.hyperledger.fabric:GetMetadata",
}

// FuzzInvoke sends arbitrary arguments to every function through the whole chaincode: it must never panic,
// every error must carry a code and never be INTERNAL, a success must emit at most one event, and the token
// invariant must hold after the transaction commits.
func FuzzInvoke(f *testing.F) {
	f.Add(uint8(11), "weather", "3", "")
	f.Add(uint8(14), "weather", "alice", "-1")
	f.Add(uint8(6), mashupJSON("trip", 1, "weather"), "", "")
	f.Add(uint8(3), serviceJSON("x", 1), "", "")
	f.Add(uint8(10), "a", "z", "5")
	f.Add(uint8(17), "bob", "999999999999999999999", "")
	f.Add(uint8(8), "weather", `{"price":0}`, "")
	f.Fuzz(func(t *testing.T, pick uint8, a, b, c string) {
		n, cs := scenario(t)
		n.publish(cs.bob, "weather", 10)
		n.mustSubmit(cs.alice, "CallService", "weather", "2")
		callers := []*ident{cs.alice, cs.bob, cs.stranger, cs.admin1}
		fn := fuzzFunctions[int(pick)%len(fuzzFunctions)]
		caller := callers[int(pick/32)%len(callers)]
		args := []string{a, b, c}[:int(pick/8)%4]

		s, _, err := n.endorse(caller, fn, args...)
		if err != nil {
			msg := err.Error()
			require.True(t, hasCode(msg), "uncoded error: %q", msg)
			require.False(t, strings.HasPrefix(msg, CodeInternal), "%s(%q): %s", fn, args, msg)
			return
		}
		require.LessOrEqual(t, len(s.events), 1)
		if len(s.writes) > 0 {
			require.Len(t, s.events, 1, "%s changed state without an event", fn)
		}
		require.Equal(t, []bool{true}, n.w.commitBlock([]*fakeStub{s}))
		balances, pool := ledgerTotals(t, n.w)
		require.Equal(t, int64(1_000_000), balances+pool)
	})
}
