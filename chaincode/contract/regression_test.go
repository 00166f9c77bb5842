package contract

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hyperledger/fabric-chaincode-go/v2/shim"
	"github.com/hyperledger/fabric-protos-go-apiv2/msp"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"
)

// Defect 1: anyone could remove another user and re-register the name, taking over its services and income.
func TestDefect1_NobodyCanRemoveAnotherUserOrTakeOverItsName(t *testing.T) {
	n, c := scenario(t)
	n.publish(c.bob, "weather", 10)
	n.requireCode(CodeForbidden, c.mallory, "RemoveUser", "bob")
	require.Equal(t, userActive, n.user("bob").Status)

	n.mustSubmit(c.bob, "RemoveUser", "bob")
	thief := newIdent(t, "Org2MSP", "thief", false)
	n.requireCode(CodeAlreadyExists, thief, "RegisterUser", "bob", "")
	n.requireCode(CodeAlreadyExists, c.mallory, "RegisterUser", "bob", "")
	n.requireCode(CodeUnauthenticated, thief, "PublishService", "weather")
	n.requireCode(CodeForbidden, c.mallory, "PublishService", "weather")
	s := decode[Service](t, n.mustEvaluate(c.alice, "QueryService", "weather"))
	require.Equal(t, "bob", s.Developer)
	require.Equal(t, "Org1MSP", n.user("bob").MSPID, "the name stays bound to bob's identity")
}

// Defect 2: buying n calls paid the price of one; n could be zero or negative.
func TestDefect2_BuyingNCallsPaysPriceTimesN(t *testing.T) {
	n, c := scenario(t)
	n.publish(c.bob, "weather", 7)
	n.mustSubmit(c.alice, "CallService", "weather", "13")
	require.Equal(t, int64(1000-7*13), n.balance("alice"))
	require.Equal(t, int64(1000+7*13), n.balance("bob"))
	for _, bad := range []string{"0", "-1", "-1000", "", "1.5", "9223372036854775807"} {
		n.requireCode(CodeInvalidArgument, c.alice, "CallService", "weather", bad)
	}
	require.Equal(t, int64(1000-7*13), n.balance("alice"))
}

// Defect 3: rights could go negative; a negative n minted rights.
func TestDefect3_RightsNeverGoNegativeAndNegativeNMintsNothing(t *testing.T) {
	n, c := scenario(t)
	n.publish(c.bob, "weather", 1)
	n.mustSubmit(c.alice, "CallService", "weather", "2")
	n.requireCode(CodeInvalidState, c.bob, "ReduceCallTime", "weather", "alice", "3")
	n.requireCode(CodeInvalidArgument, c.bob, "ReduceCallTime", "weather", "alice", "-5")
	n.requireCode(CodeInvalidArgument, c.bob, "ReduceCallTime", "weather", "alice", "0")
	n.mustSubmit(c.bob, "ReduceCallTime", "weather", "alice", "2")
	n.requireCode(CodeInvalidState, c.bob, "ReduceCallTime", "weather", "alice", "1")
	r := decode[ServiceCallTime](t, n.mustEvaluate(c.alice, "GetSpecCallTime", "weather", "alice"))
	require.Equal(t, int64(0), r.Remaining)
	require.Equal(t, int64(2), r.Bought)
}

func creatorFor(mspID string, idBytes []byte) []byte {
	b, _ := proto.Marshal(&msp.SerializedIdentity{Mspid: mspID, IdBytes: idBytes})
	return b
}

// Defect 4: an empty sender identity was accepted.
func TestDefect4_EmptyOrMalformedIdentityIsRejected(t *testing.T) {
	n, c := scenario(t)
	n.publish(c.bob, "weather", 1)
	certPEM := func() []byte {
		var sid msp.SerializedIdentity
		require.NoError(t, proto.Unmarshal(c.alice.creator, &sid))
		return sid.IdBytes
	}()
	identities := map[string]*ident{
		"no creator":        {creator: nil},
		"empty creator":     {creator: []byte{}},
		"garbage creator":   {creator: []byte("not a protobuf")},
		"empty MSP ID":      {creator: creatorFor("", certPEM)},
		"no certificate":    {creator: creatorFor("Org1MSP", nil)},
		"not a certificate": {creator: creatorFor("Org1MSP", []byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"))},
	}
	for name, id := range identities {
		t.Run(name, func(t *testing.T) {
			for _, call := range [][]string{
				{"RegisterUser", "ghost", ""},
				{"CallService", "weather", "1"},
				{"RemoveUser", "alice"},
				{"Transfer", "alice", "1"},
				{"QueryService", "weather"},
				{"TokenInfo"},
				{"QueryServerGrant", "weather", "alice"},
				{"Init", defaultInit},
			} {
				s, _, err := n.endorse(id, call[0], call[1:]...)
				require.Error(t, err, call[0])
				code := err.(*txError).code()
				require.Contains(t, []string{CodeUnauthenticated, CodeAlreadyExists}, code, "%s: %v", call[0], err)
				require.Empty(t, s.writes, call[0])
			}
		})
	}
	// The creator cannot be read at all.
	s := newFakeStub(n.w, "tx-nocreator", nil, genesis, "RegisterUser", "ghost", "")
	s.creatorOK = false
	resp := n.cc.Invoke(s)
	require.True(t, strings.HasPrefix(resp.Message, CodeUnauthenticated+": "), resp.Message)
}

// Defect 5: the original read the wall clock in chaincode, so endorsements differed between peers.
func TestDefect5_EndorsementsAreDeterministic(t *testing.T) {
	// Two peers endorse the same proposal (same tx id and timestamp) at different moments and must agree
	// byte for byte on the response, the write set and the event.
	peers := [2]*testNet{}
	c := newCast(t)
	for i := range peers {
		peers[i] = newTestNet(t)
		peers[i].mustSubmit(c.admin1, "Init", defaultInit)
		peers[i].mustSubmit(c.alice, "RegisterUser", "alice", "")
		peers[i].mustSubmit(c.bob, "RegisterUser", "bob", "")
		peers[i].publish(c.bob, "weather", 3)
	}
	for _, call := range [][]string{
		{"CallService", "weather", "4"},
		{"CreateMashup", mashupJSON("trip", 1, "weather")},
		{"RewardService", "weather", "9"},
	} {
		var responses [2]string
		var stubs [2]*fakeStub
		for i, p := range peers {
			stubs[i] = newFakeStub(p.w, "tx-same", c.alice.creator, genesis.Add(99e9), call[0], call[1:]...)
			resp := p.cc.Invoke(stubs[i])
			require.Equal(t, int32(shim.OK), resp.Status, resp.Message)
			responses[i] = string(resp.Payload)
		}
		require.Equal(t, responses[0], responses[1], call[0])
		require.Equal(t, stubs[0].writes, stubs[1].writes, call[0])
		require.Equal(t, stubs[0].events, stubs[1].events, call[0])
	}

	// And the chaincode source never reads the clock, randomness or the environment.
	fset := token.NewFileSet()
	files, err := filepath.Glob("*.go")
	require.NoError(t, err)
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		require.NoError(t, err)
		file, err := parser.ParseFile(fset, f, src, parser.ImportsOnly)
		require.NoError(t, err)
		for _, imp := range file.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			require.NotContains(t, []string{"math/rand", "math/rand/v2", "crypto/rand", "os"}, path, f)
		}
		full, err := parser.ParseFile(fset, f, src, 0)
		require.NoError(t, err)
		ast.Inspect(full, func(node ast.Node) bool {
			if sel, ok := node.(*ast.SelectorExpr); ok {
				if id, ok := sel.X.(*ast.Ident); ok && id.Name == "time" {
					require.NotContains(t, []string{"Now", "Since", "Until"}, sel.Sel.Name, "%s uses time.%s", f, sel.Sel.Name)
				}
			}
			return true
		})
	}
}

// Defect 6: keys concatenated without delimiters collided; buy/reduce records keyed by the second overwrote
// each other.
func TestDefect6_KeysDoNotCollideAndRecordsDoNotOverwrite(t *testing.T) {
	n, c := scenario(t)
	// "ab"+"c" and "a"+"bc" concatenate to the same string.
	ab := newIdent(t, "Org1MSP", "ab", false)
	a := newIdent(t, "Org1MSP", "a", false)
	n.mustSubmit(ab, "RegisterUser", "ab", "")
	n.mustSubmit(a, "RegisterUser", "a", "")
	n.publish(c.bob, "c", 1)
	n.publish(c.bob, "bc", 1)
	n.mustSubmit(ab, "CallService", "c", "3")
	n.mustSubmit(a, "CallService", "bc", "5")
	require.Equal(t, int64(3), decode[ServiceCallTime](t, n.mustEvaluate(a, "GetSpecCallTime", "c", "ab")).Remaining)
	require.Equal(t, int64(5), decode[ServiceCallTime](t, n.mustEvaluate(a, "GetSpecCallTime", "bc", "a")).Remaining)
	require.Equal(t, int64(0), decode[ServiceCallTime](t, n.mustEvaluate(a, "GetSpecCallTime", "c", "a")).Remaining)

	// Several purchases and reductions in the same second each keep their own record.
	n.clock = n.clock.Truncate(time.Minute)
	for i := 0; i < 3; i++ {
		n.mustSubmit(c.alice, "CallService", "c", "2")
		n.mustSubmit(c.bob, "ReduceCallTime", "c", "alice", "1")
		n.clock = n.clock.Add(-2 * time.Second) // endorse advances it by one per transaction: stay in one second
	}
	count := func(ns string) int {
		prefix, _ := shim.CreateCompositeKey(ns, []string{"c", "alice"})
		k := 0
		for key := range n.w.state {
			if strings.HasPrefix(key, prefix) {
				k++
			}
		}
		return k
	}
	require.Equal(t, 3, count(nsBuyRecord))
	require.Equal(t, 3, count(nsReduceRecord))
}

// Defect 7: duplicated copies of records went stale.
func TestDefect7_IndexesHoldNoCopiesSoNothingGoesStale(t *testing.T) {
	n, c := scenario(t)
	n.publish(c.bob, "weather", 10)
	n.mustSubmit(c.bob, "EditService", "weather", `{"price":42,"description":"updated"}`)
	fresh := decode[Service](t, n.mustEvaluate(c.alice, "QueryService", "weather"))
	for _, q := range [][]string{
		{"QueryServiceByUser", "bob", "10", ""},
		{"QueryServiceByStatus", "available", "10", ""},
		{"QueryServiceByRange", "", "", "10", ""},
	} {
		p := decode[ServicePage](t, n.mustEvaluate(c.alice, q[0], q[1:]...))
		require.Equal(t, []Service{fresh}, p.Records, q[0])
	}
	n.mustSubmit(c.bob, "InvalidateService", "weather")
	require.Empty(t, decode[ServicePage](t, n.mustEvaluate(c.alice, "QueryServiceByStatus", "available", "10", "")).Records)
	require.Len(t, decode[ServicePage](t, n.mustEvaluate(c.alice, "QueryServiceByStatus", "invalid", "10", "")).Records, 1)
	for _, ns := range []string{nsByDeveloper, nsByStatus} {
		prefix, _ := shim.CreateCompositeKey(ns, nil)
		for k, v := range n.w.state {
			if strings.HasPrefix(k, prefix) {
				require.Equal(t, indexMarker, v.value, "index entries carry no data")
			}
		}
	}
}

// Defect 8: no validation of price sign, component status, empty mashups, status preconditions, reward target.
func TestDefect8_EveryPreconditionIsValidated(t *testing.T) {
	n, c := scenario(t)
	n.publish(c.bob, "weather", 10)
	n.mustSubmit(c.bob, "RegisterService", serviceJSON("draft", 10))
	n.requireCode(CodeInvalidArgument, c.bob, "RegisterService", serviceJSON("neg", -1))
	n.requireCode(CodeInvalidArgument, c.bob, "EditService", "weather", `{"price":-1}`)
	n.requireCode(CodeInvalidState, c.carol, "CreateMashup", mashupJSON("m", 1, "draft"))
	n.requireCode(CodeInvalidArgument, c.carol, "CreateMashup", mashupJSON("m", 1))
	n.requireCode(CodeInvalidState, c.bob, "PublishService", "weather")
	n.requireCode(CodeInvalidState, c.alice, "CallService", "draft", "1")
	n.requireCode(CodeNotFound, c.alice, "RewardService", "ghost", "1")
	n.requireCode(CodeInvalidState, c.alice, "RewardService", "draft", "1")
	n.requireCode(CodeForbidden, c.bob, "RewardService", "weather", "1")
	n.requireCode(CodeInvalidArgument, c.alice, "RewardService", "weather", "0")
	n.requireCode(CodeInvalidArgument, c.alice, "RewardService", "weather", "-10")
	require.Equal(t, int64(1000), n.balance("alice"))
}

// Issue 8, finding 1: a holder re-enrolled with another subject field (here Locality) is the same enrollment,
// so it cannot register a second user and collect a second grant, and removing the user stops every one of
// its certificates. The same enrollment ID at another organization's CA is someone else.
func TestReenrolledCertificatesAreTheSameUserAndFarmNoGrants(t *testing.T) {
	n, c := scenario(t)
	supply := decode[TokenInfo](t, n.mustEvaluate(c.alice, "TokenInfo"))
	elsewhere := newIdentAt(t, "Org2MSP", "carol", false, "Elsewhere")
	again := newIdentAt(t, "Org2MSP", "carol", false, "Again")

	n.requireCode(CodeAlreadyExists, elsewhere, "RegisterUser", "carol2", "")
	n.requireCode(CodeAlreadyExists, again, "RegisterUser", "carol3", "")
	require.Equal(t, supply.Pool, decode[TokenInfo](t, n.mustEvaluate(c.alice, "TokenInfo")).Pool, "no grant paid")

	// The re-enrolled certificate acts as carol, and stops with her.
	before := n.balance("carol")
	n.mustSubmit(elsewhere, "Transfer", "alice", "1")
	require.Equal(t, before-1, n.balance("carol"))
	n.mustSubmit(c.carol, "RemoveUser", "carol")
	n.requireCode(CodeForbidden, elsewhere, "Transfer", "alice", "1")
	n.requireCode(CodeForbidden, again, "Transfer", "alice", "1")
	n.requireCode(CodeAlreadyExists, again, "RegisterUser", "carol4", "")

	me := decode[User](t, n.mustEvaluate(again, "WhoAmI"))
	require.Equal(t, "carol", me.Name)
	require.Equal(t, userRemoved, me.Status)
	n.requireCode(CodeUnauthenticated, c.stranger, "WhoAmI")

	// Same enrollment ID, another organization's CA: another enrollment.
	n.mustSubmit(newIdent(t, "Org3MSP", "carol", false), "RegisterUser", "carol-of-org3", "")
}

// Issue 8, finding 4: names that read alike are refused, for users and for services, and stay refused after
// the name's owner is removed; a user and a service may still share a name.
func TestLookAlikeNamesAreRefused(t *testing.T) {
	n, c := scenario(t)
	for _, name := range []string{"Alice", "ALICE", "aIice", "a1ice"} {
		n.requireCode(CodeAlreadyExists, newIdent(t, "Org3MSP", "twin-of-"+name, false), "RegisterUser", name, "")
	}
	n.publish(c.bob, "paypal", 1)
	for _, name := range []string{"paypaI", "PayPal", "paypa1", "PAYPAL"} {
		n.requireCode(CodeAlreadyExists, c.bob, "RegisterService", serviceJSON(name, 1))
	}
	n.mustSubmit(c.bob, "RegisterService", serviceJSON("payp4l", 1)) // 4 is no a
	n.publish(c.bob, "microsoft", 1)
	n.requireCode(CodeAlreadyExists, c.carol, "RegisterService", serviceJSON("rnicrosoft", 1))
	n.requireCode(CodeAlreadyExists, c.carol, "CreateMashup", mashupJSON("MICROSOFT", 1, "paypal"))
	n.mustSubmit(c.carol, "RegisterService", serviceJSON("alice", 1)) // a service may be named like a user

	n.mustSubmit(c.mallory, "RemoveUser", "mallory")
	n.requireCode(CodeAlreadyExists, newIdent(t, "Org1MSP", "new-mallory", false), "RegisterUser", "Mallory", "")
}

func TestLooks(t *testing.T) {
	shareALook := func(a, b string) bool {
		for _, x := range looks(a) {
			for _, y := range looks(b) {
				if x == y {
					return true
				}
			}
		}
		return false
	}
	for _, pair := range [][2]string{{"Alice", "alice"}, {"paypaI", "paypal"}, {"g00gle", "google"},
		{"rnicrosoft", "microsoft"}, {"vvave", "wave"}, {"L1NUX", "LINUX"}, {"LINUX", "linux"}, {"HAIL", "hall"}} {
		require.True(t, shareALook(pair[0], pair[1]), pair)
	}
	for _, pair := range [][2]string{{"tim", "tlm"}, {"hail", "hall"}, {"api-1", "api-2"}, {"a.b", "a-b"}, {"x_y", "x-y"}} {
		require.False(t, shareALook(pair[0], pair[1]), pair)
	}
}

// Issue 8, finding 4: two users buying each other's price-1 service, or composing each other's services, again
// and again cost themselves nothing (each pays the other); eq. 1 counts distinct users, so it does not grow.
func TestCollusionDoesNotInflateTheContributionScore(t *testing.T) {
	n, c := scenario(t)
	n.publish(c.alice, "a-api", 1)
	n.publish(c.bob, "b-api", 1)
	for i := 0; i < 20; i++ {
		n.mustSubmit(c.alice, "CallService", "b-api", "1")
		n.mustSubmit(c.bob, "CallService", "a-api", "1")
		n.mustSubmit(c.alice, "CreateMashup", mashupJSON("a-mix-"+strconv.Itoa(i), 1, "b-api"))
	}
	bob := n.user("bob").Contribution
	require.Equal(t, int64(20), bob.CallsBought, "every paid call is still counted")
	require.Equal(t, int64(20), bob.Compositions)
	require.Equal(t, int64(1), bob.Buyers, "NP: one distinct buyer")
	require.Equal(t, int64(1), bob.Composers, "NI: one distinct composer")
	require.InDelta(t, 0.693147+2*1+1*1, bob.Value, 1e-6)
	n.mustSubmit(c.carol, "CallService", "b-api", "1") // a new buyer counts
	require.Equal(t, int64(2), n.user("bob").Contribution.Buyers)
}

// Issue 8, finding 4: a mashup's creator can say the most it pays for the components; a price raised since is
// refused and nothing is paid.
func TestMashupMaxPaidRefusesComponentsThatGotDearer(t *testing.T) {
	n, c := scenario(t)
	n.publish(c.bob, "weather", 3)
	n.publish(c.carol, "maps", 2)
	before := n.balance("dave")
	n.mustSubmit(c.bob, "EditService", "weather", `{"price":300}`)
	spec := `{"name":"trip","category":"travel","url":"https://t.example","price":1,"components":["weather","maps"],"maxPaid":5}`
	n.requireCode(CodeInvalidState, c.dave, "CreateMashup", spec)
	require.Equal(t, before, n.balance("dave"))
	n.mustSubmit(c.dave, "CreateMashup", strings.Replace(spec, `"maxPaid":5`, `"maxPaid":302`, 1))
	require.Equal(t, before-302, n.balance("dave"))
	n.requireCode(CodeInvalidArgument, c.dave, "CreateMashup", strings.Replace(spec, `"maxPaid":5`, `"maxPaid":-1`, 1))
}
