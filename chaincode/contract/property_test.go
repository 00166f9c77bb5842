package contract

import (
	"encoding/json"
	"fmt"
	"math/rand"
	"slices"
	"strings"
	"testing"

	"github.com/hyperledger/fabric-chaincode-go/v2/shim"
	"github.com/stretchr/testify/require"
)

// ledgerTotals reads the raw world state, independently of the chaincode's own queries: the sum of every
// account balance (base records plus deltas) and the pool.
func ledgerTotals(t testing.TB, w *world) (balances, poolBalance int64) {
	tallyPrefix, _ := shim.CreateCompositeKey(nsTally, nil)
	untimedDeltaPrefix, _ := shim.CreateCompositeKey(nsTallyDelta, nil)
	deltaPrefix := deltaMark + untimedDeltaPrefix[1:]
	poolKey, _ := shim.CreateCompositeKey(nsPool, nil)
	for k, v := range w.state {
		if strings.HasPrefix(k, tallyPrefix) || strings.HasPrefix(k, untimedDeltaPrefix) ||
			strings.HasPrefix(k, deltaPrefix) {
			var tl Tally
			require.NoError(t, json.Unmarshal(v.value, &tl))
			require.GreaterOrEqual(t, tl.Balance, int64(0), "no record holds a negative balance: %q", k)
			if !strings.Contains(k, "\x00"+ownerService+"\x00") {
				balances += tl.Balance
			} else {
				require.Zero(t, tl.Balance, "services hold no SToken")
			}
		}
		if strings.HasPrefix(k, poolKey) { // the pool, or each of its grant shards
			var p pool
			require.NoError(t, json.Unmarshal(v.value, &p))
			poolBalance += p.Balance
		}
	}
	return balances, poolBalance
}

// checkInvariants: sum of balances + pool = cap, every balance and right is non-negative, and the
// chaincode's own view agrees with the raw state.
func checkInvariants(t testing.TB, n *testNet, users []string, capacity int64) {
	t.Helper()
	balances, pool := ledgerTotals(t, n.w)
	require.Equal(t, capacity, balances+pool, "sum of balances + pool = cap")

	viewer := newIdent(t, "Org1MSP", "viewer", false)
	var viaQueries int64
	for _, u := range users {
		out, err := n.evaluate(viewer, "BalanceOf", u)
		if err != nil && err.(*txError).code() == CodeNotFound {
			continue // not registered (yet)
		}
		require.NoError(t, err)
		b := decode[Balance](t, out)
		require.GreaterOrEqual(t, b.Balance, int64(0))
		viaQueries += b.Balance
	}
	for _, org := range []string{"Org1MSP", "Org2MSP", "Org3MSP"} {
		viaQueries += decode[Balance](t, n.mustEvaluate(viewer, "BalanceOf", "org:"+org)).Balance
	}
	info := decode[TokenInfo](t, n.mustEvaluate(viewer, "TokenInfo"))
	require.Equal(t, capacity, viaQueries+info.Pool, "the chaincode's queries agree")

	rightsPrefix, _ := shim.CreateCompositeKey(nsRights, nil)
	for k, v := range n.w.state {
		if strings.HasPrefix(k, rightsPrefix) {
			var r ServiceCallTime
			require.NoError(t, json.Unmarshal(v.value, &r))
			require.GreaterOrEqual(t, r.Remaining, int64(0))
			require.Equal(t, r.Bought-r.Used, r.Remaining)
		}
	}
}

// TestRandomOperationsKeepTheTokenInvariant drives random operations — valid and invalid, alone or several
// endorsed against the same state and committed in one block (so some fail MVCC) — and checks the invariant
// after every block.
func TestRandomOperationsKeepTheTokenInvariant(t *testing.T) {
	for _, seed := range []int64{1, 2, 3, 42, 2021} {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewSource(seed))
			n := newTestNet(t)
			c := newCast(t)
			const capacity = 1_000_000
			n.mustSubmit(c.admin1, "Init", defaultInit)

			admins := []*ident{c.admin1, c.admin2, newIdent(t, "Org3MSP", "Admin@org3", true)}
			var ids []*ident
			var names []string
			for i := 0; i < 12; i++ {
				ids = append(ids, newIdent(t, fmt.Sprintf("Org%dMSP", i%3+1), fmt.Sprintf("p%d", i), false))
				names = append(names, fmt.Sprintf("p%d", i))
				n.mustSubmit(ids[i], "RegisterUser", names[i], "")
			}
			var late []string
			for i := 0; i < 10; i++ {
				late = append(late, fmt.Sprintf("q%d", i))
			}
			services := []string{"s0", "s1", "s2", "s3", "s4", "s5", "m0", "m1", "m2", "m3"}
			pick := func(list []string) string { return list[rng.Intn(len(list))] }
			amount := func() string {
				switch rng.Intn(10) {
				case 0:
					return "0"
				case 1:
					return "-7"
				case 2:
					return "999999999999"
				default:
					return fmt.Sprint(rng.Intn(300) + 1)
				}
			}
			owner := map[string]int{} // service -> index of its developer, learned from committed registrations
			buyers := map[string][]string{}
			ownerOf := func(svc string, fallback *ident) *ident {
				if i, ok := owner[svc]; ok && rng.Intn(5) > 0 {
					return ids[i]
				}
				return fallback
			}
			randomOp := func() (*ident, string, []string) {
				whoIdx := rng.Intn(len(ids))
				who := ids[whoIdx]
				svc := pick(services)
				switch rng.Intn(15) {
				case 0:
					k := rng.Intn(len(late))
					return newIdent(t, "Org2MSP", late[k], false), "RegisterUser", []string{late[k], ""}
				case 1:
					return who, "RegisterService", []string{serviceJSON(pick(services[:6]), int64(rng.Intn(60)))}
				case 2, 3:
					return ownerOf(svc, who), "PublishService", []string{svc}
				case 4:
					return ownerOf(svc, who), "InvalidateService", []string{svc}
				case 5, 6:
					return who, "CallService", []string{pick(services), fmt.Sprint(rng.Intn(12))}
				case 7:
					holder := pick(names)
					if len(buyers[svc]) > 0 && rng.Intn(4) > 0 {
						holder = buyers[svc][rng.Intn(len(buyers[svc]))]
					}
					return ownerOf(svc, who), "ReduceCallTime", []string{svc, holder, fmt.Sprint(rng.Intn(4))}
				case 8:
					components := []string{pick(services[:6])}
					if rng.Intn(2) == 0 {
						components = append(components, pick(services))
					}
					return who, "CreateMashup", []string{mashupJSON(fmt.Sprintf("m%d", rng.Intn(20)), int64(rng.Intn(20)), components...)}
				case 9:
					return who, "RewardService", []string{pick(services), amount()}
				case 10:
					return who, "Transfer", []string{pick(names), amount()}
				case 11:
					return admins[rng.Intn(3)], "OrgTransfer", []string{pick(names), amount()}
				case 12:
					if rng.Intn(5) == 0 {
						if rng.Intn(3) == 0 {
							return who, "RemoveUser", []string{pick(names)}
						}
						return who, "RemoveUser", []string{names[whoIdx]}
					}
					return who, "CompactAccount", nil
				case 13:
					return ownerOf(svc, who), "EditService", []string{svc, fmt.Sprintf(`{"price":%d}`, rng.Intn(50))}
				default:
					return ownerOf(svc, who), "CompactService", []string{svc}
				}
			}

			committed, failed, conflicts := 0, 0, 0
			byFn := map[string]int{}
			for block := 0; block < 250; block++ {
				var batch []*fakeStub
				var created []func()
				for i := 0; i < 1+rng.Intn(4); i++ {
					who, fn, args := randomOp()
					s, _, err := n.endorse(who, fn, args...)
					if err != nil {
						var te *txError
						require.ErrorAs(t, err, &te)
						require.True(t, hasCode(te.msg), "uncoded error from %s: %s", fn, te.msg)
						require.NotEqual(t, CodeInternal, te.code(), "%s(%v): %s", fn, args, te.msg)
						failed++
						continue
					}
					require.Len(t, s.events, 1, "%s emits one event", fn)
					batch = append(batch, s)
					fnName := fn
					created = append(created, func() { byFn[fnName]++ })
					if fn == "RegisterService" || fn == "CreateMashup" {
						var ev serviceEvent
						require.NoError(t, json.Unmarshal(s.events[0].payload, &ev))
						idx := slices.IndexFunc(ids, func(id *ident) bool { return id == who })
						created[len(created)-1] = func() { owner[ev.Service] = idx; byFn[fnName]++ }
					}
					if fn == "CallService" {
						var rec BuyRecord
						require.NoError(t, json.Unmarshal(s.events[0].payload, &rec))
						created[len(created)-1] = func() { buyers[rec.Service] = append(buyers[rec.Service], rec.Buyer); byFn[fnName]++ }
					}
				}
				for i, ok := range n.w.commitBlock(batch) {
					if ok {
						created[i]()
						committed++
					} else {
						conflicts++
					}
				}
				checkInvariants(t, n, append(append([]string{"founder"}, names...), late...), capacity)
			}
			t.Logf("seed %d: %d committed, %d rejected by the chaincode, %d MVCC conflicts", seed, committed, failed, conflicts)
			for _, fn := range []string{"RegisterUser", "CallService", "ReduceCallTime", "CreateMashup", "RewardService",
				"Transfer", "OrgTransfer", "RemoveUser", "CompactAccount", "InvalidateService"} {
				require.Positive(t, byFn[fn], "the sequence must commit %s at least once", fn)
			}
		})
	}
}
