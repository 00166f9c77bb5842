package contract

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestInit(t *testing.T) {
	c := newCast(t)
	tests := []struct {
		name    string
		caller  *ident
		config  string
		code    string
		message string
	}{
		{"founder organization's admin", c.admin1, defaultInit, "", ""},
		{"admin of another maintaining org", c.admin2, defaultInit, CodeForbidden, "founder organization Org1MSP"},
		{"admin of a non-maintaining org", c.outsiderAdmin, defaultInit, CodeForbidden, "maintaining organization"},
		{"client of a maintaining org", c.alice, defaultInit, CodeForbidden, "maintaining organization"},
		{"bad config", c.admin1, `{"cap":0}`, CodeInvalidArgument, "cap"},
		{"not JSON", c.admin1, `cap=1`, CodeInvalidArgument, "config"},
		// Valid, but not what the organizations agreed to: only Org1MSP maintains, with every SToken its own.
		{"another genesis", c.admin1, strings.Replace(strings.Replace(defaultInit,
			`"Org1MSP","Org2MSP","Org3MSP"`, `"Org1MSP"`, 1), `"founderShare":100000`, `"founderShare":950000`, 1),
			CodeInvalidArgument, "not the genesis this organization agreed to"},
		{"the agreed genesis spelled otherwise", c.admin1, defaultInit + " ", CodeInvalidArgument,
			"not the genesis this organization agreed to"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := newTestNet(t)
			if tt.code != "" {
				n.requireCode(tt.code, tt.caller, "Init", tt.config)
				_, _, err := n.endorse(tt.caller, "Init", tt.config)
				require.ErrorContains(t, err, tt.message)
				n.requireCode(CodeInvalidState, c.alice, "TokenInfo")
				return
			}
			info := decode[TokenInfo](t, n.mustSubmit(tt.caller, "Init", tt.config))
			require.Equal(t, "Initialized", n.last.events[0].name)
			require.Equal(t, int64(1_000_000), info.Cap)
			require.Equal(t, int64(1_000_000-100_000-3*50_000), info.Pool)
			require.Equal(t, info.Cap-info.Pool, info.Circulating)
			require.Equal(t, int64(1000), info.NextGrant)
			require.Equal(t, int64(100_000), n.balance("founder"), "founder share")
			require.Equal(t, int64(50_000), n.balance("org:Org2MSP"), "org share")
			founder := n.user("founder")
			require.Equal(t, "Org1MSP", founder.MSPID, "the Init caller is the founder")
			n.requireCode(CodeAlreadyExists, c.admin2, "Init", defaultInit)
		})
	}
}

func TestBeforeInitNothingWorks(t *testing.T) {
	n := newTestNet(t)
	c := newCast(t)
	n.requireCode(CodeInvalidState, c.alice, "RegisterUser", "alice", "")
	n.requireCode(CodeInvalidState, c.alice, "BalanceOf", "alice")
	n.requireCode(CodeInvalidState, c.alice, "QueryUser", "alice")
	n.requireCode(CodeInvalidState, c.admin1, "SetContributionWeights", "1", "1")
	n.requireCode(CodeInvalidState, c.admin1, "OrgTransfer", "alice", "1")
	n.requireCode(CodeUnauthenticated, c.alice, "Transfer", "bob", "1")
}

func TestRegistrationGrantsHalveUntilThePoolIsEmpty(t *testing.T) {
	c := newCast(t)
	// cap 10: founder 2, one org 1, pool 7; grant 4 halving every 2 registrations.
	tiny := `{"cap":10,"founderName":"founder","founderOrg":"Org1MSP","founderShare":2,"orgShare":1,` +
		`"maintainers":["Org1MSP"],"initialGrant":4,"grantHalvingEvery":2}`
	n := newTestNetFor(t, tiny)
	n.mustSubmit(c.admin1, "Init", tiny)
	want := []int64{4, 3, 0, 0} // 4, then only 3 left in the pool, then nothing
	for i, w := range want {
		id := newIdent(t, "Org1MSP", "grantee"+string(rune('a'+i)), false)
		u := decode[User](t, n.mustSubmit(id, "RegisterUser", "grantee"+string(rune('a'+i)), ""))
		require.Equal(t, w, u.Balance, "registration %d", i)
		require.Equal(t, w, n.balance(u.Name))
	}
	info := decode[TokenInfo](t, n.mustEvaluate(c.alice, "TokenInfo"))
	require.Equal(t, int64(0), info.Pool)
	require.Equal(t, int64(4), info.Registrations)
	require.Equal(t, int64(10), info.Circulating)
}

func TestBalanceOf(t *testing.T) {
	n, c := scenario(t)
	require.Equal(t, int64(1000), n.balance("alice"))
	require.Equal(t, int64(50_000), n.balance("org:Org3MSP"))
	n.requireCode(CodeNotFound, c.alice, "BalanceOf", "nobody")
	n.requireCode(CodeNotFound, c.alice, "BalanceOf", "org:Org9MSP")
	n.requireCode(CodeInvalidArgument, c.alice, "BalanceOf", "")
	n.requireCode(CodeInvalidArgument, c.alice, "BalanceOf", "org:")
}

func TestTransfer(t *testing.T) {
	tests := []struct {
		name, to, amount, code string
	}{
		{"ok", "bob", "300", ""},
		{"whole balance", "bob", "1000", ""},
		{"more than balance", "bob", "1001", CodeInsufficientFunds},
		{"zero", "bob", "0", CodeInvalidArgument},
		{"negative", "bob", "-5", CodeInvalidArgument},
		{"not a number", "bob", "ten", CodeInvalidArgument},
		{"to self", "alice", "1", CodeInvalidArgument},
		{"unknown recipient", "zed", "1", CodeNotFound},
		{"bad recipient", "", "1", CodeInvalidArgument},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, c := scenario(t)
			if tt.code != "" {
				n.requireCode(tt.code, c.alice, "Transfer", tt.to, tt.amount)
				require.Equal(t, int64(1000), n.balance("alice"))
				return
			}
			r := decode[TransferReceipt](t, n.mustSubmit(c.alice, "Transfer", tt.to, tt.amount))
			require.Equal(t, "Transferred", n.last.events[0].name)
			require.Equal(t, "alice", r.From)
			require.Equal(t, int64(1000)-r.Amount, n.balance("alice"))
			require.Equal(t, int64(1000)+r.Amount, n.balance("bob"))
		})
	}
}

func TestTransferToARemovedUserIsRefused(t *testing.T) {
	n, c := scenario(t)
	n.mustSubmit(c.bob, "RemoveUser", "bob")
	n.requireCode(CodeInvalidState, c.alice, "Transfer", "bob", "1")
}

func TestOrgTransfer(t *testing.T) {
	n, c := scenario(t)
	r := decode[TransferReceipt](t, n.mustSubmit(c.admin2, "OrgTransfer", "alice", "700"))
	require.Equal(t, "org:Org2MSP", r.From)
	require.Equal(t, int64(50_000-700), n.balance("org:Org2MSP"))
	require.Equal(t, int64(1700), n.balance("alice"))
	n.requireCode(CodeInsufficientFunds, c.admin2, "OrgTransfer", "alice", "50000")
	n.requireCode(CodeForbidden, c.carol, "OrgTransfer", "alice", "1")
	n.requireCode(CodeForbidden, c.outsiderAdmin, "OrgTransfer", "alice", "1")
	n.requireCode(CodeNotFound, c.admin2, "OrgTransfer", "nobody", "1")
	n.requireCode(CodeInvalidArgument, c.admin2, "OrgTransfer", "alice", "0")
	n.requireCode(CodeInvalidArgument, c.admin2, "OrgTransfer", "", "1")
}

func TestSetContributionWeights(t *testing.T) {
	n, c := scenario(t)
	n.publish(c.bob, "weather", 1)
	n.mustSubmit(c.alice, "CallService", "weather", "4")
	n.mustSubmit(c.carol, "CallService", "weather", "1")
	require.InDelta(t, 0.693147+2, n.user("bob").Contribution.Value, 1e-6, "λ=2, γ=1: ln2 + 1·2/1 (two buyers)")

	w := decode[Weights](t, n.mustSubmit(c.admin2, "SetContributionWeights", "0", "0.5"))
	require.Equal(t, Weights{GammaMilli: 500, LambdaMilli: 0}, w)
	require.InDelta(t, 0.693147+1, n.user("bob").Contribution.Value, 1e-6)

	n.requireCode(CodeForbidden, c.bob, "SetContributionWeights", "9", "9")
	n.requireCode(CodeForbidden, c.outsiderAdmin, "SetContributionWeights", "9", "9")
	n.requireCode(CodeInvalidArgument, c.admin1, "SetContributionWeights", "-1", "1")
	n.requireCode(CodeInvalidArgument, c.admin1, "SetContributionWeights", "1", "x")
}

// Credits beyond what one transaction folds are never summed short (a peer's range query would stop at its
// totalQueryLimit without an error): reads refuse, a debit folds what it can, compaction goes in steps.
func TestATallyBeyondTheFoldBoundIsNeverSummedShort(t *testing.T) {
	defer func(summed, folded int) { maxSummedDeltas, maxFoldedDeltas = summed, folded }(maxSummedDeltas, maxFoldedDeltas)
	maxSummedDeltas, maxFoldedDeltas = 6, 5
	n, c := scenario(t)
	n.mustSubmit(c.bob, "CompactAccount")
	before := n.balance("bob")
	for i := 0; i < 6; i++ {
		n.mustSubmit(c.alice, "Transfer", "bob", "10")
	}
	require.Equal(t, before+60, n.balance("bob")) // six are summed, not folded
	n.mustSubmit(c.alice, "Transfer", "bob", "10")
	n.requireCode(CodeInvalidState, c.alice, "BalanceOf", "bob")
	n.requireCode(CodeInvalidState, c.alice, "QueryUser", "bob")
	n.requireCode(CodeInvalidState, c.bob, "Transfer", "alice", fmt.Sprint(before+70)) // needs all seven credits
	n.mustSubmit(c.bob, "Transfer", "alice", fmt.Sprint(before+40))                    // the base and five cover it
	require.Equal(t, int64(30), n.balance("bob"))
	n.later()
	require.Equal(t, Compaction{Deltas: 2, Owner: "bob"}, decode[Compaction](t, n.mustSubmit(c.bob, "CompactAccount")))
	for i := 0; i < 6; i++ {
		n.mustSubmit(c.alice, "Transfer", "bob", "1")
	}
	require.Equal(t, int64(36), n.balance("bob"))
	n.requireCode(CodeInvalidState, c.bob, "RemoveUser", "bob") // it would delete six
	n.later()
	require.Equal(t, Compaction{Deltas: 5, More: true, Owner: "bob"}, decode[Compaction](t, n.mustSubmit(c.bob, "CompactAccount")))
	require.Equal(t, Compaction{Deltas: 1, Owner: "bob"}, decode[Compaction](t, n.mustSubmit(c.bob, "CompactAccount")))
	require.Equal(t, int64(36), n.balance("bob"))
}
