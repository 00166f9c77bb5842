package contract

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestFiftyBuyersOfOneServiceCommitInOneBlock: 50 distinct buyers endorse CallService on one service against
// the same state and are committed in one block. Crediting the developer writes fresh delta keys and no
// buyer writes a key another buyer reads, so every one of them passes MVCC validation. The developer's
// compaction in the same block folds only settled credits, so it commits too.
func TestFiftyBuyersOfOneServiceCommitInOneBlock(t *testing.T) {
	c := newCast(t)
	neverHalve := strings.Replace(defaultInit, `"grantHalvingEvery":4`, `"grantHalvingEvery":0`, 1)
	n := newTestNetFor(t, neverHalve)
	n.mustSubmit(c.admin1, "Init", neverHalve)
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

	n.step = 10 * time.Millisecond // endorsed within half a second, as by concurrent clients
	var block []*fakeStub
	for _, id := range buyers {
		s, _, err := n.endorse(id, "CallService", "weather", "2")
		require.NoError(t, err)
		block = append(block, s)
	}
	// The developer compacts its account in the same block: the buyers' fresh credits are not in its range.
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
	require.True(t, valid[50], "the compaction read no credit younger than creditInFlight")
	n.step = time.Second

	require.Equal(t, before+50*2*3, n.balance("bob"))
	usage := decode[ServiceUsage](t, n.mustEvaluate(c.alice, "GetCallTimesOfService", "weather"))
	require.Equal(t, int64(100), usage.CallsBought)
	require.Equal(t, int64(100), n.user("bob").Contribution.CallsBought)
	checkInvariants(t, n, accounts, 1_000_000)

	// Once they are settled, a compaction folds all 50.
	n.later()
	r := decode[Compaction](t, n.mustSubmit(c.bob, "CompactAccount"))
	require.Equal(t, int64(50), r.Deltas)
}

// A developer whose service is bought in every block can still spend what it earned: the debit folds only its
// settled credits, so the fresh ones committed in the same block are no phantom read for it.
func TestADeveloperCreditedInEveryBlockStillSpendsItsEarnings(t *testing.T) {
	n, c := scenario(t)
	n.publish(c.bob, "weather", 100)
	n.publish(c.carol, "maps", 1)
	for _, buyer := range []*ident{c.alice, c.carol, c.dave} {
		n.mustSubmit(buyer, "CallService", "weather", "2")
	}
	n.later()
	bob := n.balance("bob")
	require.Len(t, n.deltas(ownerUser, "bob"), 3)

	n.step = 10 * time.Millisecond
	credit, _, err := n.endorse(c.mallory, "CallService", "weather", "1")
	require.NoError(t, err)
	spend, _, err := n.endorse(c.bob, "CallService", "maps", fmt.Sprint(bob-50)) // more than bob's base holds
	require.NoError(t, err)
	require.Equal(t, []bool{true, true}, n.w.commitBlock([]*fakeStub{credit, spend}))
	require.Equal(t, int64(150), n.balance("bob"), "50 left, and mallory's 100")
	require.Len(t, n.deltas(ownerUser, "bob"), 1, "the settled three were folded; mallory's waits")
	checkInvariants(t, n, []string{"founder", "alice", "bob", "carol", "dave", "mallory"}, 1_000_000)
}

// A credit that reaches its block later than creditInFlight after its timestamp fails a fold of the same block
// (it is in the range the fold read): the fold is retried, and nothing is lost.
func TestALateCreditFailsTheFoldItOvertakes(t *testing.T) {
	n, c := scenario(t)
	n.publish(c.bob, "weather", 100)
	n.mustSubmit(c.alice, "CallService", "weather", "1")
	bob := n.balance("bob")
	late, _, err := n.endorse(c.mallory, "CallService", "weather", "1")
	require.NoError(t, err)
	n.later()
	n.later()
	fold, _, err := n.endorse(c.bob, "CompactAccount")
	require.NoError(t, err)
	require.Equal(t, []bool{true, false}, n.w.commitBlock([]*fakeStub{late, fold}))
	require.Equal(t, bob+100, n.balance("bob"))
	require.Equal(t, Compaction{Deltas: 2, Owner: "bob"}, decode[Compaction](t, n.mustSubmit(c.bob, "CompactAccount")))
	require.Equal(t, bob+100, n.balance("bob"))
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

// TestRegistrationsOfDifferentGrantShardsCommitInOneBlock: with grant shards, registrations endorsed against
// the same state conflict only when their names share a shard; a retry of those succeeds, every grant is paid
// once, and the pool's shards add up.
func TestRegistrationsOfDifferentGrantShardsCommitInOneBlock(t *testing.T) {
	c := newCast(t)
	sharded := strings.Replace(defaultInit, `"grantHalvingEvery":4`, `"grantHalvingEvery":1000,"grantShards":16`, 1)
	n := newTestNetFor(t, sharded)
	n.mustSubmit(c.admin1, "Init", sharded)
	info := decode[TokenInfo](t, n.mustEvaluate(c.alice, "TokenInfo"))
	require.Equal(t, int64(16), info.GrantShards)
	cfg := &config{GrantShards: 16}

	var ids []*ident
	var names []string
	var block []*fakeStub
	for i := 0; i < 40; i++ {
		name := fmt.Sprintf("newcomer%02d", i)
		id := newIdent(t, fmt.Sprintf("Org%dMSP", i%3+1), name, false)
		s, _, err := n.endorse(id, "RegisterUser", name, "")
		require.NoError(t, err)
		ids, names, block = append(ids, id), append(names, name), append(block, s)
	}
	valid := n.w.commitBlock(block)
	firstOfShard := map[int64]bool{}
	for i, name := range names {
		shard := shardOf(cfg, name)
		require.Equal(t, !firstOfShard[shard], valid[i], "%s (shard %d)", name, shard)
		firstOfShard[shard] = true
	}
	t.Logf("first-try commits: %d/40 registrations (16 shards)", len(firstOfShard))
	require.Greater(t, len(firstOfShard), 10)
	for i, ok := range valid {
		if !ok {
			n.mustSubmit(ids[i], "RegisterUser", names[i], "")
		}
	}
	for _, name := range names {
		require.Equal(t, int64(1000), n.balance(name), name)
	}
	info = decode[TokenInfo](t, n.mustEvaluate(c.alice, "TokenInfo"))
	require.Equal(t, int64(40), info.Registrations)
	checkInvariants(t, n, append(names, "founder"), 1_000_000)
}

func TestGrantShardsHalveOnTheirOwnShareOfTheSchedule(t *testing.T) {
	cfg := &config{InitialGrant: 1000, GrantHalvingEvery: 64, GrantShards: 16}
	require.Equal(t, int64(1000), grantFor(cfg, pool{Balance: 1e6, Registrations: 3}))
	require.Equal(t, int64(500), grantFor(cfg, pool{Balance: 1e6, Registrations: 4}), "4 of the shard = 64 of all")
	require.Equal(t, int64(250), grantFor(cfg, pool{Balance: 1e6, Registrations: 8}))
	require.Equal(t, int64(7), grantFor(cfg, pool{Balance: 7, Registrations: 0}), "never more than the shard holds")
	single := &config{InitialGrant: 1000, GrantHalvingEvery: 64}
	require.Equal(t, int64(1000), grantFor(single, pool{Balance: 1e6, Registrations: 63}))
	require.Equal(t, int64(500), grantFor(single, pool{Balance: 1e6, Registrations: 64}))
}

// A credit dated far ahead (a client sets its transaction's time) is not left for ever: a compaction folds it.
func TestACreditDatedAheadIsCompacted(t *testing.T) {
	n, c := scenario(t)
	n.publish(c.bob, "free", 0)
	now := n.clock
	n.clock = time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)
	n.mustSubmit(c.alice, "Transfer", "bob", "5")
	n.mustSubmit(c.alice, "CallService", "free", "3")
	n.clock = now
	n.later()
	require.Equal(t, Compaction{Deltas: 1, Owner: "bob"}, decode[Compaction](t, n.mustSubmit(c.bob, "CompactAccount")))
	require.Equal(t, Compaction{Deltas: 1, Owner: "free"}, decode[Compaction](t, n.mustSubmit(c.bob, "CompactService", "free")))
	require.Empty(t, n.deltas(ownerUser, "bob"))
	require.Empty(t, n.deltas(ownerService, "free"))
}
