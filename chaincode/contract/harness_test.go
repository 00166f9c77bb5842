package contract

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hyperledger/fabric-chaincode-go/v2/shim"
	"github.com/stretchr/testify/require"
)

// testNet runs the real chaincode (contract API dispatch, serialization, schema checks and the error-code
// wrapper) against the in-memory peer.
type testNet struct {
	tb    testing.TB
	w     *world
	cc    shim.Chaincode
	txNum int
	clock time.Time
	step  time.Duration // between two transactions' timestamps: a second unless a test says otherwise
	last  *fakeStub     // the last endorsed transaction, for event assertions
}

var genesis = time.Date(2021, 6, 1, 12, 0, 0, 0, time.UTC)

var (
	sharedOnce sync.Once
	sharedCC   shim.Chaincode
	sharedErr  error
)

// The chaincode keeps no state between transactions, so one instance serves every test network of defaultInit.
func newTestNet(tb testing.TB) *testNet {
	sharedOnce.Do(func() { sharedCC, sharedErr = New(digestOf(defaultInit)) })
	require.NoError(tb, sharedErr)
	return &testNet{tb: tb, w: newWorld(), cc: sharedCC, clock: genesis}
}

// newTestNetFor is a test network whose organizations agreed to the genesis initJSON.
func newTestNetFor(tb testing.TB, initJSON string) *testNet {
	cc, err := New(digestOf(initJSON))
	require.NoError(tb, err)
	return &testNet{tb: tb, w: newWorld(), cc: cc, clock: genesis}
}

func digestOf(initJSON string) string {
	sum := sha256.Sum256([]byte(initJSON))
	return hex.EncodeToString(sum[:])
}

// txError is a failed proposal: the chaincode's error message.
type txError struct{ msg string }

func (e *txError) Error() string { return e.msg }

func (e *txError) code() string {
	c, _, _ := strings.Cut(e.msg, ": ")
	return c
}

// endorse simulates a proposal; it does not commit.
func (n *testNet) endorse(id *ident, fn string, args ...string) (*fakeStub, string, error) {
	n.txNum++
	if n.step == 0 {
		n.step = time.Second
	}
	n.clock = n.clock.Add(n.step)
	s := newFakeStub(n.w, fmt.Sprintf("tx%06d", n.txNum), id.creator, n.clock, fn, args...)
	n.last = s
	resp := n.cc.Invoke(s)
	if resp.Status >= shim.ERRORTHRESHOLD {
		return s, "", &txError{resp.Message}
	}
	return s, string(resp.Payload), nil
}

// submit endorses and commits alone in a block.
func (n *testNet) submit(id *ident, fn string, args ...string) (string, error) {
	s, out, err := n.endorse(id, fn, args...)
	if err != nil {
		return "", err
	}
	if valid := n.w.commitBlock([]*fakeStub{s}); !valid[0] {
		n.tb.Fatalf("%s: a transaction alone in its block failed MVCC validation", fn)
	}
	return out, nil
}

// evaluate runs a query; its writes, if any, are dropped.
func (n *testNet) evaluate(id *ident, fn string, args ...string) (string, error) {
	s, out, err := n.endorse(id, fn, args...)
	if err == nil && len(s.writes) > 0 {
		n.tb.Fatalf("query %s wrote %d keys", fn, len(s.writes))
	}
	return out, err
}

func (n *testNet) mustSubmit(id *ident, fn string, args ...string) string {
	n.tb.Helper()
	out, err := n.submit(id, fn, args...)
	require.NoError(n.tb, err, "%s(%v)", fn, args)
	require.Len(n.tb, n.last.events, 1, "%s must emit exactly one event", fn)
	return out
}

func (n *testNet) mustEvaluate(id *ident, fn string, args ...string) string {
	n.tb.Helper()
	out, err := n.evaluate(id, fn, args...)
	require.NoError(n.tb, err, "%s(%v)", fn, args)
	return out
}

// requireCode asserts a failure with the given code that wrote nothing and emitted nothing.
func (n *testNet) requireCode(code string, id *ident, fn string, args ...string) {
	n.tb.Helper()
	s, _, err := n.endorse(id, fn, args...)
	require.Error(n.tb, err, "%s(%v) should fail with %s", fn, args, code)
	var te *txError
	require.ErrorAs(n.tb, err, &te)
	require.Equal(n.tb, code, te.code(), "%s(%v): %s", fn, args, te.msg)
	require.Empty(n.tb, s.events, "a failed %s must not emit", fn)
}

func decode[T any](tb testing.TB, s string) T {
	tb.Helper()
	var v T
	require.NoError(tb, json.Unmarshal([]byte(s), &v), s)
	return v
}

// Identities used across the tests.
type cast struct {
	admin1, admin2, outsiderAdmin    *ident
	alice, bob, carol, dave, mallory *ident
	stranger                         *ident // never registers
}

func newCast(tb testing.TB) cast {
	return cast{
		admin1:        newIdent(tb, "Org1MSP", "Admin@org1", true),
		admin2:        newIdent(tb, "Org2MSP", "Admin@org2", true),
		outsiderAdmin: newIdent(tb, "Org9MSP", "Admin@org9", true),
		alice:         newIdent(tb, "Org1MSP", "alice", false),
		bob:           newIdent(tb, "Org1MSP", "bob", false),
		carol:         newIdent(tb, "Org2MSP", "carol", false),
		dave:          newIdent(tb, "Org3MSP", "dave", false),
		mallory:       newIdent(tb, "Org2MSP", "mallory", false),
		stranger:      newIdent(tb, "Org3MSP", "stranger", false),
	}
}

const defaultInit = `{"cap":1000000,"founderName":"founder","founderOrg":"Org1MSP","founderShare":100000,"orgShare":50000,` +
	`"maintainers":["Org1MSP","Org2MSP","Org3MSP"],"initialGrant":1000,"grantHalvingEvery":4}`

// scenario is an initialized network with users alice, bob, carol, dave, mallory.
func scenario(tb testing.TB) (*testNet, cast) {
	n := newTestNet(tb)
	c := newCast(tb)
	n.mustSubmit(c.admin1, "Init", defaultInit)
	for _, u := range []struct {
		id   *ident
		name string
	}{{c.alice, "alice"}, {c.bob, "bob"}, {c.carol, "carol"}, {c.dave, "dave"}, {c.mallory, "mallory"}} {
		n.mustSubmit(u.id, "RegisterUser", u.name, "I am "+u.name)
	}
	return n, c
}

func serviceJSON(name string, price int64) string {
	return fmt.Sprintf(`{"name":%q,"category":"weather","description":"forecasts","url":"https://api.example.com/%s","price":%d,"qos":{"latencyMs":120,"availabilityBp":9990}}`,
		name, name, price)
}

func mashupJSON(name string, price int64, components ...string) string {
	c, _ := json.Marshal(components)
	return fmt.Sprintf(`{"name":%q,"category":"travel","url":"https://mashup.example.com/%s","price":%d,"components":%s}`,
		name, name, price, c)
}

// publish registers and publishes a service of id.
func (n *testNet) publish(id *ident, name string, price int64) {
	n.tb.Helper()
	n.mustSubmit(id, "RegisterService", serviceJSON(name, price))
	n.mustSubmit(id, "PublishService", name)
}

// later lets time pass, so that the credits so far are settled (tally.go: creditInFlight).
func (n *testNet) later() {
	n.clock = n.clock.Add(creditInFlight)
}

// deltas lists the delta keys of an owner in the world state, those of older chaincode versions included.
func (n *testNet) deltas(kind, owner string) []string {
	untimed, _ := shim.CreateCompositeKey(nsTallyDelta, []string{kind, owner})
	timed := deltaMark + untimed[1:]
	var keys []string
	for k := range n.w.state {
		if strings.HasPrefix(k, untimed) || strings.HasPrefix(k, timed) {
			keys = append(keys, k)
		}
	}
	return keys
}

func (n *testNet) balance(account string) int64 {
	n.tb.Helper()
	return decode[Balance](n.tb, n.mustEvaluate(newIdent(n.tb, "Org1MSP", "alice", false), "BalanceOf", account)).Balance
}

func (n *testNet) user(name string) User {
	n.tb.Helper()
	return decode[User](n.tb, n.mustEvaluate(newIdent(n.tb, "Org1MSP", "alice", false), "QueryUser", name))
}
