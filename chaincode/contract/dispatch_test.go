package contract

import (
	"encoding/json"
	"sort"
	"strings"
	"testing"

	"github.com/hyperledger/fabric-chaincode-go/v2/shim"
	"github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"github.com/stretchr/testify/require"
)

func TestFrameworkErrorsCarryACode(t *testing.T) {
	n, c := scenario(t)
	n.requireCode(CodeInvalidArgument, c.alice, "NoSuchFunction")
	n.requireCode(CodeInvalidArgument, c.alice, "QueryUser")
	n.requireCode(CodeInvalidArgument, c.alice, "QueryUser", "alice", "extra")
	n.requireCode(CodeInvalidArgument, c.alice, "")
	n.requireCode(CodeInvalidArgument, c.alice, "NoContract:QueryUser", "alice")
}

type panickyChaincode struct{}

func (panickyChaincode) Init(shim.ChaincodeStubInterface) *peer.Response   { panic("boom") }
func (panickyChaincode) Invoke(shim.ChaincodeStubInterface) *peer.Response { return nil }

func TestAPanicBecomesAnInternalError(t *testing.T) {
	cc := &codedChaincode{inner: panickyChaincode{}}
	s := newFakeStub(newWorld(), "tx", nil, genesis, "x")
	require.True(t, strings.HasPrefix(cc.Init(s).Message, CodeInternal+": "))
	require.True(t, strings.HasPrefix(cc.Invoke(s).Message, CodeInternal+": "))
}

func TestInitWithoutArgumentsIsANoOp(t *testing.T) {
	cc, err := New(digestOf(defaultInit))
	require.NoError(t, err)
	s := newFakeStub(newWorld(), "tx", nil, genesis, "")
	s.args = nil
	require.Equal(t, int32(shim.OK), cc.Init(s).Status)
	require.Empty(t, s.writes)

	// With --init-required the peer calls Init with our Init function and its config.
	c := newCast(t)
	w := newWorld()
	s = newFakeStub(w, "tx1", c.admin1.creator, genesis, "Init", defaultInit)
	resp := cc.Init(s)
	require.Equal(t, int32(shim.OK), resp.Status, resp.Message)
	require.NotEmpty(t, s.writes)
}

// The functions the gateway depends on exist with the agreed names, and queries are marked evaluate.
func TestExtraArgumentsAreRefusedUnderAQualifiedNameToo(t *testing.T) {
	n, c := scenario(t)
	before := n.balance("bob")
	for _, fn := range []string{"Transfer", "SmartContract:Transfer"} {
		n.requireCode(CodeInvalidArgument, c.alice, fn, "bob", "7", "surplus")
	}
	require.Equal(t, before, n.balance("bob"))
	n.mustSubmit(c.alice, "SmartContract:Transfer", "bob", "7")
	require.Equal(t, before+7, n.balance("bob"))
}

func TestMetadataListsTheAgreedFunctions(t *testing.T) {
	n, c := scenario(t)
	out := n.mustEvaluate(c.alice, "org.hyperledger.fabric:GetMetadata")
	var md struct {
		Contracts map[string]struct {
			Default      bool `json:"default"`
			Transactions []struct {
				Name string   `json:"name"`
				Tags []string `json:"tag"`
			} `json:"transactions"`
		} `json:"contracts"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &md))
	contract := md.Contracts["SmartContract"]
	require.True(t, contract.Default)
	var names []string
	tags := map[string][]string{}
	for _, tx := range contract.Transactions {
		names = append(names, tx.Name)
		tags[tx.Name] = tx.Tags
	}
	want := append([]string{}, fuzzFunctions[:len(fuzzFunctions)-2]...) // all but NoSuchFunction and GetMetadata
	sort.Strings(want)
	require.Equal(t, want, names)
	for _, q := range (&SmartContract{}).GetEvaluateTransactions() {
		require.Contains(t, tags[q], "EVALUATE", q)
	}
	require.Contains(t, tags["CallService"], "SUBMIT")
}
