package contract

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestCallService(t *testing.T) {
	tests := []struct {
		name, service, calls, code string
		caller                     func(c cast) *ident
	}{
		{"one call", "weather", "1", "", func(c cast) *ident { return c.alice }},
		{"many calls", "weather", "100", "", func(c cast) *ident { return c.alice }},
		{"free service", "free", "1000000", "", func(c cast) *ident { return c.alice }},
		{"zero", "weather", "0", CodeInvalidArgument, func(c cast) *ident { return c.alice }},
		{"negative", "weather", "-3", CodeInvalidArgument, func(c cast) *ident { return c.alice }},
		{"above the maximum", "weather", "1000001", CodeInvalidArgument, func(c cast) *ident { return c.alice }},
		{"cannot pay", "weather", "101", CodeInsufficientFunds, func(c cast) *ident { return c.alice }},
		{"own service", "weather", "1", CodeForbidden, func(c cast) *ident { return c.bob }},
		{"not published", "draft", "1", CodeInvalidState, func(c cast) *ident { return c.alice }},
		{"missing", "nothing", "1", CodeNotFound, func(c cast) *ident { return c.alice }},
		{"unregistered", "weather", "1", CodeUnauthenticated, func(c cast) *ident { return c.stranger }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, c := scenario(t)
			n.publish(c.bob, "weather", 10)
			n.publish(c.bob, "free", 0)
			n.mustSubmit(c.bob, "RegisterService", serviceJSON("draft", 1))
			buyer := tt.caller(c)
			if tt.code != "" {
				n.requireCode(tt.code, buyer, "CallService", tt.service, tt.calls)
				require.Equal(t, int64(1000), n.balance("alice"))
				return
			}
			r := decode[ServiceCallTime](t, n.mustSubmit(buyer, "CallService", tt.service, tt.calls))
			require.Equal(t, "CallsBought", n.last.events[0].name)
			ev := decode[BuyRecord](t, string(n.last.events[0].payload))
			price := decode[Service](t, n.mustEvaluate(c.alice, "QueryService", tt.service)).Price
			require.Equal(t, price*r.Bought, ev.Cost)
			require.Equal(t, r.Bought, r.Remaining)
			require.Equal(t, ev.Cost, r.Paid)
			require.Equal(t, 1000-ev.Cost, n.balance("alice"))
			require.Equal(t, 1000+ev.Cost, n.balance("bob"))
			usage := decode[ServiceUsage](t, n.mustEvaluate(c.alice, "GetCallTimesOfService", tt.service))
			require.Equal(t, r.Bought, usage.CallsBought)
			wantNP := r.Bought
			if price == 0 {
				wantNP = 0
			}
			require.Equal(t, wantNP, n.user("bob").Contribution.CallsBought, "NP counts paid calls only")
		})
	}
}

// Issue 8: a price raised between the moment a buyer saw it and the purchase is refused, and nothing is paid.
func TestBuyCallsRefusesAPriceAboveTheBuyersMaximum(t *testing.T) {
	n, c := scenario(t)
	n.publish(c.bob, "weather", 3)
	before := n.balance("alice")
	n.mustSubmit(c.bob, "EditService", "weather", `{"price":500}`)
	n.requireCode(CodeInvalidState, c.alice, "BuyCalls", "weather", "2", "3")
	require.Equal(t, before, n.balance("alice"))
	r := decode[ServiceCallTime](t, n.mustSubmit(c.alice, "BuyCalls", "weather", "2", "500"))
	require.Equal(t, int64(1000), r.Paid)
	require.Equal(t, before-1000, n.balance("alice"))
	for _, bad := range []string{"", "-1", "+3", "x", "1000000000001"} {
		n.requireCode(CodeInvalidArgument, c.alice, "BuyCalls", "weather", "1", bad)
	}
}

func TestCallServiceAccumulatesRights(t *testing.T) {
	n, c := scenario(t)
	n.publish(c.bob, "weather", 10)
	n.mustSubmit(c.alice, "CallService", "weather", "2")
	n.mustSubmit(c.bob, "EditService", "weather", `{"price":20}`)
	r := decode[ServiceCallTime](t, n.mustSubmit(c.alice, "CallService", "weather", "3"))
	require.Equal(t, ServiceCallTime{Bought: 5, Paid: 20 + 60, Remaining: 5, Service: "weather",
		UpdatedAt: r.UpdatedAt, Used: 0, User: "alice"}, r)
}

func TestReduceCallTime(t *testing.T) {
	tests := []struct {
		name, user, calls, code string
		caller                  func(c cast) *ident
		remaining               int64
	}{
		{"developer", "alice", "2", "", func(c cast) *ident { return c.bob }, 3},
		{"authorized server", "alice", "5", "", func(c cast) *ident { return c.dave }, 0},
		{"more than remaining", "alice", "6", CodeInvalidState, func(c cast) *ident { return c.bob }, 5},
		{"zero", "alice", "0", CodeInvalidArgument, func(c cast) *ident { return c.bob }, 5},
		{"negative", "alice", "-1", CodeInvalidArgument, func(c cast) *ident { return c.bob }, 5},
		{"the buyer itself", "alice", "1", CodeForbidden, func(c cast) *ident { return c.alice }, 5},
		{"unauthorized user", "alice", "1", CodeForbidden, func(c cast) *ident { return c.carol }, 5},
		{"user without rights", "carol", "1", CodeNotFound, func(c cast) *ident { return c.bob }, 5},
		{"bad user", "", "1", CodeInvalidArgument, func(c cast) *ident { return c.bob }, 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, c := scenario(t)
			n.publish(c.bob, "weather", 10)
			n.mustSubmit(c.bob, "AuthorizeServer", "weather", "dave")
			n.mustSubmit(c.alice, "CallService", "weather", "5")
			if tt.code != "" {
				n.requireCode(tt.code, tt.caller(c), "ReduceCallTime", "weather", tt.user, tt.calls)
			} else {
				r := decode[ServiceCallTime](t, n.mustSubmit(tt.caller(c), "ReduceCallTime", "weather", tt.user, tt.calls))
				require.Equal(t, "CallsReduced", n.last.events[0].name)
				require.Equal(t, tt.remaining, r.Remaining)
				require.Equal(t, r.Bought-r.Remaining, r.Used)
			}
			r := decode[ServiceCallTime](t, n.mustEvaluate(c.carol, "GetSpecCallTime", "weather", "alice"))
			require.Equal(t, tt.remaining, r.Remaining)
			usage := decode[ServiceUsage](t, n.mustEvaluate(c.carol, "GetCallTimesOfService", "weather"))
			require.Equal(t, 5-tt.remaining, usage.CallsUsed)
		})
	}
}

func TestServerAuthorization(t *testing.T) {
	n, c := scenario(t)
	n.publish(c.bob, "weather", 1)
	n.mustSubmit(c.alice, "CallService", "weather", "10")

	n.requireCode(CodeNotFound, c.dave, "QueryServerGrant", "weather", "dave")
	g := decode[ServerGrant](t, n.mustSubmit(c.bob, "AuthorizeServer", "weather", "dave"))
	require.Equal(t, "ServerAuthorized", n.last.events[0].name)
	require.Equal(t, "dave", g.Server)
	require.Equal(t, g, decode[ServerGrant](t, n.mustEvaluate(c.dave, "QueryServerGrant", "weather", "dave")))
	n.requireCode(CodeNotFound, c.dave, "QueryServerGrant", "nothing", "dave")
	n.requireCode(CodeInvalidArgument, c.dave, "QueryServerGrant", "weather", "")
	n.requireCode(CodeAlreadyExists, c.bob, "AuthorizeServer", "weather", "dave")
	n.requireCode(CodeInvalidArgument, c.bob, "AuthorizeServer", "weather", "bob")
	n.requireCode(CodeNotFound, c.bob, "AuthorizeServer", "weather", "nobody")
	n.requireCode(CodeNotFound, c.bob, "AuthorizeServer", "nothing", "dave")
	n.mustSubmit(c.dave, "ReduceCallTime", "weather", "alice", "1")

	n.mustSubmit(c.bob, "RevokeServer", "weather", "dave")
	require.Equal(t, "ServerRevoked", n.last.events[0].name)
	n.requireCode(CodeNotFound, c.dave, "QueryServerGrant", "weather", "dave")
	n.requireCode(CodeForbidden, c.dave, "ReduceCallTime", "weather", "alice", "1")
	n.requireCode(CodeNotFound, c.bob, "RevokeServer", "weather", "dave")

	// An authorization is for one service only.
	n.publish(c.bob, "maps", 1)
	n.mustSubmit(c.alice, "CallService", "maps", "1")
	n.mustSubmit(c.bob, "AuthorizeServer", "weather", "mallory")
	n.requireCode(CodeForbidden, c.mallory, "ReduceCallTime", "maps", "alice", "1")

	n.mustSubmit(c.carol, "RemoveUser", "carol")
	n.requireCode(CodeInvalidState, c.bob, "AuthorizeServer", "weather", "carol")
}

// A removed developer's servers lose their authorizations: none of them meters its buyers' rights any more.
func TestRemovingADeveloperRevokesItsServers(t *testing.T) {
	n, c := scenario(t)
	n.publish(c.bob, "weather", 1)
	n.publish(c.bob, "maps", 1)
	n.publish(c.carol, "news", 1)
	n.mustSubmit(c.alice, "CallService", "weather", "5")
	n.mustSubmit(c.alice, "CallService", "news", "5")
	n.mustSubmit(c.bob, "AuthorizeServer", "weather", "dave")
	n.mustSubmit(c.bob, "AuthorizeServer", "weather", "mallory")
	n.mustSubmit(c.bob, "AuthorizeServer", "maps", "dave")
	n.mustSubmit(c.carol, "AuthorizeServer", "news", "dave")

	r := decode[RemovalReceipt](t, n.mustSubmit(c.bob, "RemoveUser", "bob"))
	require.Equal(t, int64(3), r.ServersRevoked)
	require.Equal(t, int64(2), r.ServicesInvalidated)
	n.requireCode(CodeForbidden, c.dave, "ReduceCallTime", "weather", "alice", "1")
	n.requireCode(CodeNotFound, c.dave, "QueryServerGrant", "weather", "dave")
	n.requireCode(CodeNotFound, c.mallory, "QueryServerGrant", "weather", "mallory")
	n.requireCode(CodeNotFound, c.dave, "QueryServerGrant", "maps", "dave")
	// Another developer's authorization of the same server stays.
	n.mustEvaluate(c.dave, "QueryServerGrant", "news", "dave")
	n.mustSubmit(c.dave, "ReduceCallTime", "news", "alice", "1")
}

// A removed user's calls are used up neither by settling vouchers nor by a reduction.
func TestReduceCallTimeRefusesARemovedUser(t *testing.T) {
	n, c := scenario(t)
	n.publish(c.alice, "weather", 1)
	n.mustSubmit(c.bob, "CallService", "weather", "5")
	n.mustSubmit(c.bob, "RemoveUser", "bob")
	n.requireCode(CodeInvalidState, c.alice, "ReduceCallTime", "weather", "bob", "1")
	n.requireCode(CodeNotFound, c.alice, "ReduceCallTime", "weather", "nobody", "1")
}

func TestGetSpecCallTimeAndUsage(t *testing.T) {
	n, c := scenario(t)
	n.publish(c.bob, "weather", 1)
	r := decode[ServiceCallTime](t, n.mustEvaluate(c.alice, "GetSpecCallTime", "weather", "carol"))
	require.Equal(t, ServiceCallTime{Service: "weather", User: "carol"}, r, "never bought: zeros")
	n.requireCode(CodeNotFound, c.alice, "GetSpecCallTime", "nothing", "carol")
	n.requireCode(CodeNotFound, c.alice, "GetSpecCallTime", "weather", "nobody")
	n.requireCode(CodeInvalidArgument, c.alice, "GetSpecCallTime", "weather", "")
	n.requireCode(CodeInvalidArgument, c.alice, "GetSpecCallTime", "", "carol")
	n.requireCode(CodeNotFound, c.alice, "GetCallTimesOfService", "nothing")
	n.requireCode(CodeInvalidArgument, c.alice, "GetCallTimesOfService", "a\x00b")
	u := decode[ServiceUsage](t, n.mustEvaluate(c.alice, "GetCallTimesOfService", "weather"))
	require.Equal(t, ServiceUsage{Service: "weather"}, u)
}

func TestGetSpecCallTimesAnswersEachPairAsGetSpecCallTime(t *testing.T) {
	n, c := scenario(t)
	n.publish(c.bob, "weather", 1)
	n.mustSubmit(c.alice, "CallService", "weather", "3")
	pairs := [][2]string{{"weather", "alice"}, {"weather", "carol"}, {"nothing", "carol"}, {"weather", "nobody"},
		{"weather", ""}, {"a\x00b", "carol"}, {"weather", "alice"}}
	queries, err := json.Marshal(pairs)
	require.NoError(t, err)
	answers := decode[[]RightsAnswer](t, n.mustEvaluate(c.alice, "GetSpecCallTimes", string(queries)))
	require.Len(t, answers, len(pairs))
	for i, p := range pairs {
		one, err := n.evaluate(c.alice, "GetSpecCallTime", p[0], p[1])
		if err != nil {
			require.Nil(t, answers[i].Rights, "pair %d", i)
			require.Equal(t, err.Error(), answers[i].Error, "pair %d", i)
			continue
		}
		require.Empty(t, answers[i].Error, "pair %d", i)
		require.Equal(t, decode[ServiceCallTime](t, one), *answers[i].Rights, "pair %d", i)
	}
	require.Equal(t, int64(3), answers[0].Rights.Remaining)
	require.True(t, strings.HasPrefix(answers[2].Error, CodeNotFound+": "), answers[2].Error)
	require.True(t, strings.HasPrefix(answers[4].Error, CodeInvalidArgument+": "), answers[4].Error)

	// Each service and user record is read once per batch: a pair then costs one read of its rights.
	one, _, err := n.endorse(c.alice, "GetSpecCallTime", "weather", "alice")
	require.NoError(t, err)
	three, _, err := n.endorse(c.alice, "GetSpecCallTimes", `[["weather","alice"],["weather","alice"],["weather","carol"]]`)
	require.NoError(t, err)
	require.Equal(t, one.ops+3, three.ops, "service and alice once, carol once, three rights")
}

func TestGetSpecCallTimesRefusesMalformedQueries(t *testing.T) {
	n, c := scenario(t)
	n.publish(c.bob, "weather", 1)
	many := make([][2]string, maxRightsPerRead+1)
	for i := range many {
		many[i] = [2]string{"weather", "alice"}
	}
	tooMany, err := json.Marshal(many)
	require.NoError(t, err)
	full, err := json.Marshal(many[:maxRightsPerRead])
	require.NoError(t, err)
	require.Len(t, decode[[]RightsAnswer](t, n.mustEvaluate(c.alice, "GetSpecCallTimes", string(full))), maxRightsPerRead)
	longest := make([][2]string, maxRightsPerRead) // the largest valid batch: 64 pairs of the longest names
	for i := range longest {
		longest[i] = [2]string{strings.Repeat("s", maxNameLen), fmt.Sprintf("%0*d", maxNameLen, i)}
	}
	largest, err := json.Marshal(longest)
	require.NoError(t, err)
	require.LessOrEqual(t, len(largest), maxRightsQueriesLen)
	for _, a := range decode[[]RightsAnswer](t, n.mustEvaluate(c.alice, "GetSpecCallTimes", string(largest))) {
		require.True(t, strings.HasPrefix(a.Error, CodeNotFound+": "), a.Error)
	}
	long := `[["weather","` + strings.Repeat("a", maxRightsQueriesLen) + `"]]`
	for _, queries := range []string{"", "[]", "{}", `[["weather"]]`, `[["weather","alice","x"]]`, `[["weather",1]]`,
		`[["weather","alice"]] x`, string(tooMany), long} {
		n.requireCode(CodeInvalidArgument, c.alice, "GetSpecCallTimes", queries)
	}
}

func TestRewardService(t *testing.T) {
	tests := []struct {
		name, service, amount, code string
		caller                      func(c cast) *ident
	}{
		{"ok", "weather", "250", "", func(c cast) *ident { return c.alice }},
		{"zero", "weather", "0", CodeInvalidArgument, func(c cast) *ident { return c.alice }},
		{"negative", "weather", "-1", CodeInvalidArgument, func(c cast) *ident { return c.alice }},
		{"more than balance", "weather", "1001", CodeInsufficientFunds, func(c cast) *ident { return c.alice }},
		{"own service", "weather", "1", CodeForbidden, func(c cast) *ident { return c.bob }},
		{"missing service", "nothing", "1", CodeNotFound, func(c cast) *ident { return c.alice }},
		{"unpublished service", "draft", "1", CodeInvalidState, func(c cast) *ident { return c.alice }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, c := scenario(t)
			n.publish(c.bob, "weather", 10)
			n.mustSubmit(c.bob, "RegisterService", serviceJSON("draft", 1))
			if tt.code != "" {
				n.requireCode(tt.code, tt.caller(c), "RewardService", tt.service, tt.amount)
				require.Equal(t, int64(1000), n.balance("bob"))
				return
			}
			r := decode[RewardReceipt](t, n.mustSubmit(tt.caller(c), "RewardService", tt.service, tt.amount))
			require.Equal(t, "ServiceRewarded", n.last.events[0].name)
			require.Equal(t, RewardReceipt{Amount: 250, Developer: "bob", From: "alice", Service: "weather", TxID: r.TxID}, r)
			require.Equal(t, int64(750), n.balance("alice"))
			require.Equal(t, int64(1250), n.balance("bob"))
		})
	}
}

func TestCompaction(t *testing.T) {
	n, c := scenario(t)
	n.publish(c.bob, "weather", 10)
	for _, buyer := range []*ident{c.alice, c.carol, c.dave} {
		n.mustSubmit(buyer, "CallService", "weather", "2")
	}
	deltas := func(kind, owner string) int { return len(n.deltas(kind, owner)) }
	require.Equal(t, 3, deltas(ownerUser, "bob"), "3 developer credits")
	require.Equal(t, 3, deltas(ownerService, "weather"), "3 service counters")
	before := n.user("bob")

	r := decode[Compaction](t, n.mustSubmit(c.bob, "CompactAccount"))
	require.Equal(t, Compaction{Owner: "bob"}, r, "credits younger than creditInFlight are left for later")
	n.later()
	r = decode[Compaction](t, n.mustSubmit(c.bob, "CompactAccount"))
	require.Equal(t, "AccountCompacted", n.last.events[0].name)
	require.Equal(t, Compaction{Deltas: 3, Owner: "bob"}, r)
	r = decode[Compaction](t, n.mustSubmit(c.bob, "CompactService", "weather"))
	require.Equal(t, Compaction{Deltas: 3, Owner: "weather"}, r)
	require.Equal(t, 0, deltas(ownerUser, "bob"))
	require.Equal(t, 0, deltas(ownerService, "weather"))
	require.Equal(t, before, n.user("bob"), "compaction changes no total")
	require.Equal(t, int64(6), decode[ServiceUsage](t, n.mustEvaluate(c.alice, "GetCallTimesOfService", "weather")).CallsBought)
	n.requireCode(CodeForbidden, c.alice, "CompactService", "weather")
	n.requireCode(CodeUnauthenticated, c.stranger, "CompactAccount")

	// Spending more than the base record holds folds the account's deltas in first.
	n.publish(c.carol, "maps", 1055)
	n.mustSubmit(c.bob, "CallService", "maps", "1") // base 1060 covers it: no fold
	n.mustSubmit(c.alice, "CallService", "weather", "1")
	n.mustSubmit(c.alice, "Transfer", "bob", "5")
	require.Equal(t, 2, deltas(ownerUser, "bob"))
	n.publish(c.carol, "pin", 12)
	n.requireCode(CodeInsufficientFunds, c.bob, "CallService", "pin", "2") // 5 + 15 < 24
	n.mustSubmit(c.bob, "CallService", "pin", "1")                         // 5 + 15 >= 12
	require.Equal(t, 0, deltas(ownerUser, "bob"), "bob's credits were folded into his base record")
	require.Equal(t, int64(8), n.balance("bob"))
}
