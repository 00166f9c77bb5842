package contract

import (
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	mrand "math/rand"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

var b64 = base64.RawURLEncoding

// signVoucher builds the wire form of a voucher of user for service with count n, signed with key.
func signVoucher(tb testing.TB, key *ecdsa.PrivateKey, service, user string, n int64) string {
	tb.Helper()
	digest := sha256.Sum256([]byte(fmt.Sprintf("GET /forecast?n=%d\n", n)))
	claim := fmt.Sprintf(`{"s":%q,"u":%q,"n":%d,"d":%q,"t":1622548800000}`, service, user, n, b64.EncodeToString(digest[:]))
	signed := "v1." + b64.EncodeToString([]byte(claim))
	h := sha256.Sum256([]byte(signed))
	sig, err := ecdsa.SignASN1(rand.Reader, key, h[:])
	require.NoError(tb, err)
	return signed + "." + b64.EncodeToString(sig)
}

func vouchers(vs ...string) string {
	b, _ := json.Marshal(vs)
	return string(b)
}

// metered: alice publishes "weather" (2 SToken per call); bob and carol buy 10 calls each.
func metered(t *testing.T) (*testNet, cast) {
	n, c := scenario(t)
	n.publish(c.alice, "weather", 2)
	n.mustSubmit(c.bob, "CallService", "weather", "10")
	n.mustSubmit(c.carol, "CallService", "weather", "10")
	return n, c
}

func (n *testNet) rights(user string) ServiceCallTime {
	n.tb.Helper()
	return decode[ServiceCallTime](n.tb, n.mustEvaluate(newIdent(n.tb, "Org1MSP", "alice", false), "GetSpecCallTime", "weather", user))
}

func TestSettleCallsUsesTheHighestVoucherOfEachUserAndIsIdempotent(t *testing.T) {
	n, c := metered(t)
	batch := vouchers(
		signVoucher(t, c.carol.key, "weather", "carol", 7),
		signVoucher(t, c.bob.key, "weather", "bob", 3),
		signVoucher(t, c.bob.key, "weather", "bob", 5),
	)
	s := decode[Settlement](t, n.mustSubmit(c.alice, "SettleCalls", "weather", batch))
	require.Equal(t, []SettledRights{{Calls: 5, Remaining: 5, Used: 5, User: "bob"}, {Calls: 7, Remaining: 3, Used: 7, User: "carol"}}, s.Settled)
	require.Empty(t, s.Rejected)
	require.Equal(t, "CallsSettled", n.last.events[0].name)
	require.Equal(t, int64(12), decode[ServiceUsage](t, n.mustEvaluate(c.alice, "GetCallTimesOfService", "weather")).CallsUsed)

	again := decode[Settlement](t, n.mustSubmit(c.alice, "SettleCalls", "weather", batch))
	require.Empty(t, again.Settled, "a settled voucher settles nothing twice")
	lower := decode[Settlement](t, n.mustSubmit(c.alice, "SettleCalls", "weather", vouchers(signVoucher(t, c.bob.key, "weather", "bob", 4))))
	require.Empty(t, lower.Settled, "used calls never go down")
	require.Equal(t, int64(5), n.rights("bob").Used)
	require.Equal(t, int64(12), decode[ServiceUsage](t, n.mustEvaluate(c.alice, "GetCallTimesOfService", "weather")).CallsUsed)
}

func TestVouchersThatDoNotHoldAreRejectedAndChangeNothing(t *testing.T) {
	n, c := metered(t)
	n.mustSubmit(c.dave, "CallService", "weather", "10")
	n.mustSubmit(c.dave, "RemoveUser", "dave")
	s := decode[Settlement](t, n.mustSubmit(c.alice, "SettleCalls", "weather", vouchers(
		signVoucher(t, c.mallory.key, "weather", "bob", 2),  // forged: not bob's key
		signVoucher(t, c.carol.key, "weather", "carol", 11), // more than carol bought
		signVoucher(t, c.dave.key, "weather", "dave", 1),    // dave was removed
		signVoucher(t, c.bob.key, "weather", "nobody", 1),   // no such user
	)))
	require.Empty(t, s.Settled)
	require.ElementsMatch(t, []RejectedVoucher{
		{Calls: 2, Index: 0, Reason: rejectBadSignature, User: "bob"},
		{Calls: 11, Index: 1, Reason: rejectBeyondBought, User: "carol"},
		{Calls: 1, Index: 2, Reason: rejectUserRemoved, User: "dave"},
		{Calls: 1, Index: 3, Reason: rejectUnknownUser, User: "nobody"},
	}, s.Rejected)
	require.Equal(t, int64(0), n.rights("bob").Used)
	require.Equal(t, int64(0), n.rights("carol").Used)

	// A voucher that does not hold does not hide a lower one of the same user that does.
	s = decode[Settlement](t, n.mustSubmit(c.alice, "SettleCalls", "weather", vouchers(
		signVoucher(t, c.carol.key, "weather", "carol", 11), signVoucher(t, c.carol.key, "weather", "carol", 9))))
	require.Equal(t, []SettledRights{{Calls: 9, Remaining: 1, Used: 9, User: "carol"}}, s.Settled)
	require.Len(t, s.Rejected, 1)
}

// The founder's user is made by Init, not RegisterUser: its key is a voucher key all the same.
func TestTheFounderSVouchersSettle(t *testing.T) {
	n, c := metered(t)
	n.mustSubmit(c.admin1, "CallService", "weather", "10")
	require.NotEmpty(t, decode[VoucherKeys](t, n.mustEvaluate(c.alice, "QueryVoucherKeys", "founder")).Keys)
	s := decode[Settlement](t, n.mustSubmit(c.alice, "SettleCalls", "weather",
		vouchers(signVoucher(t, c.admin1.key, "weather", "founder", 3))))
	require.Empty(t, s.Rejected)
	require.Equal(t, []SettledRights{{Calls: 3, Remaining: 7, Used: 3, User: "founder"}}, s.Settled)
}

func TestMalformedSettlementsAndStrangersAreRefusedWhole(t *testing.T) {
	n, c := metered(t)
	good := signVoucher(t, c.bob.key, "weather", "bob", 1)
	n.publish(c.alice, "maps", 1)
	n.requireCode(CodeInvalidArgument, c.alice, "SettleCalls", "weather", vouchers(good, signVoucher(t, c.bob.key, "maps", "bob", 1)))
	n.requireCode(CodeInvalidArgument, c.alice, "SettleCalls", "weather", vouchers())
	n.requireCode(CodeInvalidArgument, c.alice, "SettleCalls", "weather", `{"not":"a list"}`)
	n.requireCode(CodeInvalidArgument, c.alice, "SettleCalls", "weather", vouchers(good, "v2."+good[3:]))
	n.requireCode(CodeInvalidArgument, c.alice, "SettleCalls", "weather", vouchers(good+"="))
	n.requireCode(CodeForbidden, c.carol, "SettleCalls", "weather", vouchers(good))
	n.requireCode(CodeUnauthenticated, c.stranger, "SettleCalls", "weather", vouchers(good))
	n.requireCode(CodeNotFound, c.alice, "SettleCalls", "nothing", vouchers(signVoucher(t, c.bob.key, "nothing", "bob", 1)))
	require.Equal(t, int64(0), n.rights("bob").Used)

	n.mustSubmit(c.alice, "AuthorizeServer", "weather", "mallory")
	s := decode[Settlement](t, n.mustSubmit(c.mallory, "SettleCalls", "weather", vouchers(good)))
	require.Equal(t, "mallory", s.Settler)
	require.Equal(t, int64(1), n.rights("bob").Used)
}

func TestSettlementsOfDifferentUsersCommitInOneBlock(t *testing.T) {
	n, c := metered(t)
	first, _, err := n.endorse(c.alice, "SettleCalls", "weather", vouchers(signVoucher(t, c.bob.key, "weather", "bob", 2)))
	require.NoError(t, err)
	second, _, err := n.endorse(c.alice, "SettleCalls", "weather", vouchers(signVoucher(t, c.carol.key, "weather", "carol", 3)))
	require.NoError(t, err)
	require.Equal(t, []bool{true, true}, n.w.commitBlock([]*fakeStub{first, second}))
	require.Equal(t, int64(2), n.rights("bob").Used)
	require.Equal(t, int64(3), n.rights("carol").Used)
}

func TestAReenrolledUserUpdatesItsVoucherKeyAndItsOlderVouchersStillSettle(t *testing.T) {
	n, c := metered(t)
	keys := decode[VoucherKeys](t, n.mustEvaluate(c.alice, "QueryVoucherKeys", "bob"))
	require.Len(t, keys.Keys, 1)
	require.Equal(t, "active", keys.Status)

	renewed := newIdentAt(t, "Org1MSP", "bob", false, "Renewed") // same enrollment, new key
	byNewKey := signVoucher(t, renewed.key, "weather", "bob", 4)
	s := decode[Settlement](t, n.mustSubmit(c.alice, "SettleCalls", "weather", vouchers(byNewKey)))
	require.Equal(t, rejectBadSignature, s.Rejected[0].Reason, "a key the user never registered")

	updated := decode[VoucherKeys](t, n.mustSubmit(renewed, "UpdateVoucherKey"))
	require.Equal(t, []string{updated.Keys[0], keys.Keys[0]}, updated.Keys)
	require.Equal(t, "VoucherKeyUpdated", n.last.events[0].name)
	s = decode[Settlement](t, n.mustSubmit(c.alice, "SettleCalls", "weather", vouchers(signVoucher(t, c.bob.key, "weather", "bob", 2), byNewKey)))
	require.Equal(t, int64(4), s.Settled[0].Used)

	_, _, err := n.endorse(renewed, "UpdateVoucherKey")
	require.NoError(t, err)
	require.Empty(t, n.last.writes, "the same key again changes nothing")
	n.requireCode(CodeUnauthenticated, c.stranger, "UpdateVoucherKey")
}

// Re-enrolling again and again cannot void vouchers a server holds: the oldest key is dropped only once the last
// key change is voucherKeyGrace old.
func TestReenrollingCannotVoidVouchersNotYetSettled(t *testing.T) {
	n, c := metered(t)
	held := signVoucher(t, c.bob.key, "weather", "bob", 3) // signed with the key bob registered with
	var renewals []*ident
	for i := 1; i < voucherKeysKept; i++ {
		renewals = append(renewals, newIdentAt(t, "Org1MSP", "bob", false, fmt.Sprintf("Renewal%d", i)))
		require.Len(t, decode[VoucherKeys](t, n.mustSubmit(renewals[i-1], "UpdateVoucherKey")).Keys, i+1)
	}
	next := newIdentAt(t, "Org1MSP", "bob", false, "OneTooMany")
	n.requireCode(CodeInvalidState, next, "UpdateVoucherKey")
	s := decode[Settlement](t, n.mustSubmit(c.alice, "SettleCalls", "weather", vouchers(held)))
	require.Empty(t, s.Rejected)
	require.Equal(t, int64(3), n.rights("bob").Used)

	// An older certificate's key again only reorders the keys: the grace does not start over.
	recorded := decode[VoucherKeys](t, n.mustEvaluate(c.alice, "QueryVoucherKeys", "bob")).UpdatedAt
	reordered := decode[VoucherKeys](t, n.mustSubmit(c.bob, "UpdateVoucherKey"))
	require.Equal(t, voucherKey(caller{publicKey: &c.bob.key.PublicKey}), reordered.Keys[0])
	require.Equal(t, recorded, reordered.UpdatedAt)
	at, err := time.Parse(time.RFC3339Nano, recorded)
	require.NoError(t, err)
	n.clock = at.Add(voucherKeyGrace - 2*time.Second) // the next transaction is a second within the grace
	n.requireCode(CodeInvalidState, next, "UpdateVoucherKey")
	n.clock = at.Add(voucherKeyGrace - time.Second) // the next transaction is at its end
	keys := decode[VoucherKeys](t, n.mustSubmit(next, "UpdateVoucherKey")).Keys
	require.Len(t, keys, voucherKeysKept)
	require.Equal(t, voucherKey(caller{publicKey: &next.key.PublicKey}), keys[0])
	s = decode[Settlement](t, n.mustSubmit(c.alice, "SettleCalls", "weather",
		vouchers(signVoucher(t, renewals[0].key, "weather", "bob", 4))))
	require.Equal(t, rejectBadSignature, s.Rejected[0].Reason, "the oldest key (after the reorder) is dropped")
	for i, kept := range []*ident{c.bob, renewals[1], renewals[2], next} {
		s = decode[Settlement](t, n.mustSubmit(c.alice, "SettleCalls", "weather",
			vouchers(signVoucher(t, kept.key, "weather", "bob", int64(4+i)))))
		require.Empty(t, s.Rejected, "kept key %d", i)
	}
	require.Equal(t, int64(7), n.rights("bob").Used)
}

func TestAServiceThatRequiresVouchersRefusesReduceCallTime(t *testing.T) {
	n, c := metered(t)
	n.mustSubmit(c.alice, "ReduceCallTime", "weather", "bob", "1")
	n.mustSubmit(c.alice, "EditService", "weather", `{"requireVouchers":true}`)
	n.requireCode(CodeForbidden, c.alice, "ReduceCallTime", "weather", "bob", "1")
	s := decode[Settlement](t, n.mustSubmit(c.alice, "SettleCalls", "weather", vouchers(signVoucher(t, c.bob.key, "weather", "bob", 3))))
	require.Equal(t, SettledRights{Calls: 2, Remaining: 7, Used: 3, User: "bob"}, s.Settled[0])

	n.mustSubmit(c.alice, "RegisterService", `{"name":"metered","category":"x","url":"https://m.example","price":1,"requireVouchers":true}`)
	svc := decode[Service](t, n.mustEvaluate(c.alice, "QueryService", "metered"))
	require.True(t, svc.RequireVouchers)
}

func TestCallsBoughtUnderVouchersStayVoucherOnlyWhenTheDeveloperStopsRequiringThem(t *testing.T) {
	n, c := scenario(t)
	n.publish(c.alice, "weather", 2)
	n.mustSubmit(c.alice, "EditService", "weather", `{"requireVouchers":true}`)
	n.mustSubmit(c.bob, "CallService", "weather", "3")
	n.mustSubmit(c.alice, "EditService", "weather", `{"requireVouchers":false}`)
	n.requireCode(CodeForbidden, c.alice, "ReduceCallTime", "weather", "bob", "3")
	n.mustSubmit(c.bob, "CallService", "weather", "2") // bought without vouchers, joined to voucher-only calls
	n.requireCode(CodeForbidden, c.alice, "ReduceCallTime", "weather", "bob", "1")
	require.Equal(t, ServiceCallTime{Bought: 5, Paid: 10, Remaining: 5, Service: "weather", UpdatedAt: n.rights("bob").UpdatedAt,
		User: "bob", VouchersOnly: true}, n.rights("bob"))

	s := decode[Settlement](t, n.mustSubmit(c.alice, "SettleCalls", "weather", vouchers(signVoucher(t, c.bob.key, "weather", "bob", 4))))
	require.Equal(t, SettledRights{Calls: 4, Remaining: 1, Used: 4, User: "bob"}, s.Settled[0])

	n.mustSubmit(c.carol, "CallService", "weather", "2") // bought when vouchers were not required
	n.mustSubmit(c.alice, "ReduceCallTime", "weather", "carol", "2")
}

func FuzzParseVoucher(f *testing.F) {
	key := newIdent(f, "Org1MSP", "alice", false).key
	f.Add(signVoucher(f, key, "weather", "bob", 3))
	f.Add("v1.e30.AA")
	f.Add("v1..")
	f.Fuzz(func(t *testing.T, s string) {
		v, err := parseVoucher(s)
		if err != nil {
			require.Equal(t, CodeInvalidArgument, ErrorCode(err))
			return
		}
		require.NoError(t, validateName("service", v.claim.Service))
		require.NoError(t, validateName("user", v.claim.User))
		require.True(t, v.claim.Calls >= 1 && v.claim.Time > 0)
		require.False(t, v.signedBy([]string{"not a key", ""}))
	})
}

// Whatever mix of vouchers is settled, in whatever batches and order: each user's used calls are the highest
// count it signed that is within what it bought, never more, never less, never going down; and the service's
// callsUsed is their sum.
func TestPropertySettlementsAreTheHighestValidCountPerUser(t *testing.T) {
	for seed := int64(1); seed <= 20; seed++ {
		rng := mrand.New(mrand.NewSource(seed))
		n, c := metered(t) // bob and carol bought 10 each
		signers := map[string]*ident{"bob": c.bob, "carol": c.carol}
		want := map[string]int64{"bob": 0, "carol": 0}
		for round := 0; round < 6; round++ {
			var batch []string
			for i := 0; i < 1+rng.Intn(6); i++ {
				user := []string{"bob", "carol"}[rng.Intn(2)]
				count := int64(1 + rng.Intn(13)) // sometimes beyond the 10 bought
				key := signers[user].key
				forged := rng.Intn(5) == 0
				if forged {
					key = c.mallory.key
				}
				batch = append(batch, signVoucher(t, key, "weather", user, count))
				if !forged && count <= 10 && count > want[user] {
					want[user] = count
				}
			}
			before := map[string]int64{"bob": n.rights("bob").Used, "carol": n.rights("carol").Used}
			n.mustSubmit(c.alice, "SettleCalls", "weather", vouchers(batch...))
			for user := range want {
				got := n.rights(user)
				require.Equal(t, want[user], got.Used, "seed %d round %d %s", seed, round, user)
				require.GreaterOrEqual(t, got.Used, before[user])
				require.Equal(t, got.Bought-got.Used, got.Remaining)
			}
			usage := decode[ServiceUsage](t, n.mustEvaluate(c.alice, "GetCallTimesOfService", "weather"))
			require.Equal(t, want["bob"]+want["carol"], usage.CallsUsed)
		}
	}
}
