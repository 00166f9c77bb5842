package contract

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hyperledger/fabric-chaincode-go/v2/shim"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// faultWorld has state for every kind of call: services in every status, rights, deltas, an authorization.
func faultWorld(t *testing.T) (*testNet, cast) {
	n, c := scenario(t)
	n.publish(c.bob, "weather", 10)
	n.publish(c.bob, "maps", 5)
	n.mustSubmit(c.bob, "RegisterService", serviceJSON("draft", 1))
	n.mustSubmit(c.alice, "CallService", "weather", "3")
	n.mustSubmit(c.carol, "CallService", "weather", "3")
	n.mustSubmit(c.bob, "AuthorizeServer", "weather", "dave")
	n.mustSubmit(c.carol, "Transfer", "alice", "5")
	return n, c
}

// TestLedgerFailuresBecomeInternalErrors makes each ledger operation of each function fail in turn: the
// function must answer INTERNAL (never panic, never succeed with a partial result).
func TestLedgerFailuresBecomeInternalErrors(t *testing.T) {
	n, c := faultWorld(t)
	calls := []struct {
		who  *ident
		fn   string
		args []string
	}{
		{c.stranger, "RegisterUser", []string{"stranger", ""}},
		{c.bob, "RemoveUser", []string{"bob"}},
		{c.alice, "QueryUser", []string{"bob"}},
		{c.bob, "RegisterService", []string{serviceJSON("fresh", 1)}},
		{c.bob, "PublishService", []string{"draft"}},
		{c.bob, "InvalidateService", []string{"weather"}},
		{c.dave, "CreateMashup", []string{mashupJSON("trip", 1, "weather", "maps")}},
		{c.alice, "QueryService", []string{"weather"}},
		{c.bob, "EditService", []string{"weather", `{"price":3}`}},
		{c.alice, "QueryServiceByUser", []string{"bob", "1", ""}},
		{c.alice, "QueryServiceByRange", []string{"", "", "1", ""}},
		{c.alice, "QueryServiceByStatus", []string{"available", "1", ""}},
		{c.alice, "CallService", []string{"maps", "2"}},
		{c.alice, "GetSpecCallTime", []string{"weather", "alice"}},
		{c.alice, "GetSpecCallTimes", []string{`[["weather","alice"],["nothing","alice"],["maps","bob"]]`}},
		{c.alice, "GetCallTimesOfService", []string{"weather"}},
		{c.dave, "ReduceCallTime", []string{"weather", "alice", "1"}},
		{c.alice, "RewardService", []string{"weather", "1"}},
		{c.alice, "BalanceOf", []string{"bob"}},
		{c.alice, "Transfer", []string{"bob", "1"}},
		{c.admin1, "OrgTransfer", []string{"bob", "1"}},
		{c.alice, "TokenInfo", nil},
		{c.bob, "AuthorizeServer", []string{"weather", "mallory"}},
		{c.bob, "RevokeServer", []string{"weather", "dave"}},
		{c.admin1, "SetContributionWeights", []string{"1", "1"}},
		{c.bob, "CompactAccount", nil},
		{c.bob, "CompactService", []string{"weather"}},
		{c.alice, "Transfer", []string{"bob", "972"}}, // more than her base record: folds her deltas
	}
	for _, call := range calls {
		probe, _, err := n.endorse(call.who, call.fn, call.args...)
		require.NoError(t, err, call.fn)
		for k := 1; k <= probe.ops; k++ {
			n.txNum++
			s := newFakeStub(n.w, "fault", call.who.creator, n.clock, call.fn, call.args...)
			s.failAt = k
			resp := n.cc.Invoke(s)
			require.GreaterOrEqual(t, resp.Status, int32(shim.ERRORTHRESHOLD), "%s with operation %d failing succeeded", call.fn, k)
			require.True(t, strings.HasPrefix(resp.Message, CodeInternal+": "), "%s op %d: %s", call.fn, k, resp.Message)
		}
	}

	// Init on a fresh ledger.
	w := newWorld()
	probe := newFakeStub(w, "init", c.admin1.creator, genesis, "Init", defaultInit)
	require.Equal(t, int32(shim.OK), n.cc.Invoke(probe).Status)
	for k := 1; k <= probe.ops; k++ {
		s := newFakeStub(w, "init", c.admin1.creator, genesis, "Init", defaultInit)
		s.failAt = k
		require.True(t, strings.HasPrefix(n.cc.Invoke(s).Message, CodeInternal+": "), "Init op %d", k)
	}
}

// Corrupt state (which only a bug could write) is reported as INTERNAL, not misread.
func TestCorruptStateIsReportedNotMisread(t *testing.T) {
	n, c := faultWorld(t)
	corrupt := func(ns string, attrs ...string) {
		k, err := shim.CreateCompositeKey(ns, attrs)
		require.NoError(t, err)
		v := n.w.state[k]
		v.value = []byte("{not json")
		n.w.state[k] = v
	}
	keys := n.deltas(ownerUser, "bob")
	require.NotEmpty(t, keys)
	deltaKey := keys[0]
	v := n.w.state[deltaKey]
	v.value = []byte("[]")
	n.w.state[deltaKey] = v
	n.requireCode(CodeInternal, c.alice, "BalanceOf", "bob")

	corrupt(nsService, "maps")
	n.requireCode(CodeInternal, c.alice, "QueryService", "maps")
	corrupt(nsConfig)
	n.requireCode(CodeInternal, c.alice, "TokenInfo")
}

// A delta record that would overflow a balance when folded is reported, not wrapped around.
func TestFoldingOverflowIsReported(t *testing.T) {
	n, c := faultWorld(t)
	k, _ := shim.CreateCompositeKey(nsTallyDelta, []string{ownerUser, "bob", "txX", "000001"})
	n.w.state[k] = versioned{value: []byte(`{"balance":9223372036854775807}`), version: 1}
	n.requireCode(CodeInternal, c.alice, "BalanceOf", "bob")
}

// The deltas of chaincode versions before the time-ordered keys count: summed, folded by a debit, compacted.
func TestUntimedDeltasOfOlderVersionsCount(t *testing.T) {
	n, c := scenario(t)
	n.publish(c.carol, "maps", 1)
	bob := n.balance("bob")
	for i, owner := range []string{"bob", "bob", "alice"} {
		k, _ := shim.CreateCompositeKey(nsTallyDelta, []string{ownerUser, owner, "txOld", fmt.Sprintf("%06d", i)})
		n.w.state[k] = versioned{value: []byte(`{"balance":7}`), version: 1}
	}
	require.Equal(t, bob+14, n.balance("bob"))
	n.mustSubmit(c.bob, "CallService", "maps", fmt.Sprint(bob+10))
	require.Equal(t, int64(4), n.balance("bob"))
	require.Empty(t, n.deltas(ownerUser, "bob"))

	alice := n.balance("alice")
	require.Equal(t, Compaction{Deltas: 1, Owner: "alice"}, decode[Compaction](t, n.mustSubmit(c.alice, "CompactAccount")))
	require.Empty(t, n.deltas(ownerUser, "alice"))
	require.Equal(t, alice, n.balance("alice"))
}

func TestTransactionMetadataIsChecked(t *testing.T) {
	n, c := scenario(t)
	s := newFakeStub(n.w, "", c.alice.creator, genesis, "TokenInfo")
	require.True(t, strings.HasPrefix(n.cc.Invoke(s).Message, CodeInvalidArgument+": "), "no tx id")
	s = newFakeStub(n.w, "tx", c.alice.creator, genesis, "TokenInfo")
	s.ts = &timestamppb.Timestamp{Seconds: -1 << 62}
	require.True(t, strings.HasPrefix(n.cc.Invoke(s).Message, CodeInvalidArgument+": "), "bad timestamp")
	s = newFakeStub(n.w, "tx", c.alice.creator, time.Time{}, "TokenInfo")
	s.ts = nil
	require.True(t, strings.HasPrefix(n.cc.Invoke(s).Message, CodeInternal+": "), "no timestamp")
}

func TestInternalGuards(t *testing.T) {
	tx := &txn{}
	require.Equal(t, CodeInternal, ErrorCode(tx.credit(ownerUser, "x", Tally{Balance: -1})))
	require.Equal(t, CodeInternal, ErrorCode(tx.debit(ownerUser, "x", -1)))
	require.NoError(t, tx.debit(ownerUser, "x", 0))
	require.NoError(t, tx.credit(ownerUser, "x", Tally{}))
	tx.emitted = true
	require.Equal(t, CodeInternal, ErrorCode(tx.emit("Second", nil)), "one event per transaction")
	dev := &userRecord{Name: "bob"}
	require.Equal(t, CodeInternal, ErrorCode(countAvailable(dev, statusAvailable, statusInvalid)), "NT never negative")
	require.NoError(t, countAvailable(dev, statusCreated, statusInvalid))
}
