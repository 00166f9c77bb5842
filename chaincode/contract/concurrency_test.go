package contract

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestFiftyBuyersOfOneServiceCommitInOneBlock: 50 distinct buyers endorse CallService on one service against
// the same state and are committed in one block. Crediting the developer writes fresh delta keys and no
// buyer writes a key another buyer reads, so every one of them passes MVCC validation.
func TestFiftyBuyersOfOneServiceCommitInOneBlock(t *testing.T) {
	n := newTestNet(t)
	c := newCast(t)
	n.mustSubmit(c.admin1, "Init", strings.Replace(defaultInit, `"grantHalvingEvery":4`, `"grantHalvingEvery":0`, 1))
	n.mustSubmit(c.bob, "RegisterUser", "bob", "")
	n.mustSubmit(c.alice, "RegisterUser", "alice", "")
	n.publish(c.bob, "weather", 3)
	var buyers []*ident
	accounts := []string{"founder", "alice", "bob"}
	for i := 0; i < 50; i++ {
		accounts = append(accounts, fmt.Sprintf("buyer%02d", i))
		id := newIdent(t, fmt.Sprintf("Org%dMSP", i%3+1), fmt.Sprintf("buyer%02d", i), false)
		n.mustSubmit(id, "RegisterUser", fmt.Sprintf("buyer%02d", i), "")
		buyers = append(buyers, id)
	}
	before := n.balance("bob")

	var block []*fakeStub
	for _, id := range buyers {
		s, _, err := n.endorse(id, "CallService", "weather", "2")
		require.NoError(t, err)
		block = append(block, s)
	}
	// The developer compacts its account in the same block: only its own transaction may conflict.
	compaction, _, err := n.endorse(c.bob, "CompactAccount")
	require.NoError(t, err)
	block = append(block, compaction)

	valid := n.w.commitBlock(block)
	committed := 0
	for _, ok := range valid[:50] {
		if ok {
			committed++
		}
	}
	t.Logf("first-try commit rate: %d/50 buyers", committed)
	require.Equal(t, 50, committed)
	require.False(t, valid[50], "the compaction read the developer's deltas, which the buyers changed")

	require.Equal(t, before+50*2*3, n.balance("bob"))
	usage := decode[ServiceUsage](t, n.mustEvaluate(c.alice, "GetCallTimesOfService", "weather"))
	require.Equal(t, int64(100), usage.CallsBought)
	require.Equal(t, int64(100), n.user("bob").Contribution.CallsBought)
	checkInvariants(t, n, accounts, 1_000_000)

	// Retried, the compaction lands and folds all 50 deltas.
	r := decode[Compaction](t, n.mustSubmit(c.bob, "CompactAccount"))
	require.Equal(t, int64(50), r.Deltas)
}

// A server reducing the rights of many users of one service in one block does not conflict either.
func TestConcurrentReductionsOfDifferentUsersCommit(t *testing.T) {
	n, c := scenario(t)
	n.publish(c.bob, "weather", 1)
	holders := []*ident{c.alice, c.carol, c.dave, c.mallory}
	for _, h := range holders {
		n.mustSubmit(h, "CallService", "weather", "3")
	}
	n.mustSubmit(c.bob, "AuthorizeServer", "weather", "alice")
	var block []*fakeStub
	for _, user := range []string{"alice", "carol", "dave", "mallory"} {
		s, _, err := n.endorse(c.alice, "ReduceCallTime", "weather", user, "1")
		require.NoError(t, err)
		block = append(block, s)
	}
	require.Equal(t, []bool{true, true, true, true}, n.w.commitBlock(block))
	require.Equal(t, int64(4), decode[ServiceUsage](t, n.mustEvaluate(c.alice, "GetCallTimesOfService", "weather")).CallsUsed)
}

// The simulated peer really detects conflicts: one buyer spending twice in a block gets one transaction in.
func TestOneBuyerSpendingTwiceInOneBlockConflicts(t *testing.T) {
	n, c := scenario(t)
	n.publish(c.bob, "weather", 1)
	s1, _, err := n.endorse(c.alice, "CallService", "weather", "600")
	require.NoError(t, err)
	s2, _, err := n.endorse(c.alice, "CallService", "weather", "600")
	require.NoError(t, err)
	require.Equal(t, []bool{true, false}, n.w.commitBlock([]*fakeStub{s1, s2}), "no double spend")
	require.Equal(t, int64(400), n.balance("alice"))
}
