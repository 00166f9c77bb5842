// Package contract is the T-DSES service chaincode (Wu et al. 2021, §3.7): users, services and mashups,
// call-time rights and the SToken ledger.
package contract

import (
	"crypto/sha256"
	"fmt"
	"reflect"
	"strings"

	"github.com/hyperledger/fabric-chaincode-go/v2/shim"
	"github.com/hyperledger/fabric-contract-api-go/v2/contractapi"
	"github.com/hyperledger/fabric-protos-go-apiv2/peer"
)

// SmartContract is the one T-DSES contract; its exported methods are the chaincode's functions.
type SmartContract struct {
	contractapi.Contract
	genesis string // the SHA-256, in lowercase hex, of the one Init argument this organization endorses
}

// GetEvaluateTransactions marks the read-only functions, so that clients evaluate rather than submit them.
func (c *SmartContract) GetEvaluateTransactions() []string {
	return []string{
		"QueryUser", "QueryService", "QueryServiceByUser", "QueryServiceByRange", "QueryServiceByStatus",
		"GetSpecCallTime", "GetSpecCallTimes", "GetCallTimesOfService", "BalanceOf", "TokenInfo", "WhoAmI", "QueryVoucherKeys",
		"QueryServerGrant",
	}
}

// New builds the chaincode: the contract as the default contract, wrapped so that every error carries a code.
// genesis is the SHA-256, in lowercase hex, of the Init argument the organization agreed to (see Init).
func New(genesis string) (shim.Chaincode, error) {
	if err := CheckGenesis(genesis); err != nil {
		return nil, err
	}
	cc, err := contractapi.NewChaincode(&SmartContract{genesis: genesis})
	if err != nil {
		return nil, fmt.Errorf("building the chaincode: %w", err)
	}
	cc.Info.Title = "T-DSES service chaincode"
	cc.Info.Version = "1.0.0"
	return &codedChaincode{inner: cc, arity: arities(&SmartContract{})}, nil
}

// arities maps each contract function to its number of string arguments. The contract API ignores surplus
// arguments; we reject them, since they mean the client and the chaincode disagree on a signature.
func arities(c *SmartContract) map[string]int {
	ctxType := reflect.TypeOf((*contractapi.TransactionContextInterface)(nil)).Elem()
	out := map[string]int{}
	t := reflect.TypeOf(c)
	for i := 0; i < t.NumMethod(); i++ {
		m := t.Method(i)
		if m.Type.NumIn() >= 2 && m.Type.In(1) == ctxType {
			out[m.Name] = m.Type.NumIn() - 2 // receiver and transaction context
		}
	}
	return out
}

// codedChaincode guarantees the error contract with the gateway: every error message starts with a code.
// Our functions always return coded errors; what is left uncoded comes from the contract API rejecting the
// call before our code runs (unknown function, wrong number of arguments), which is the client's mistake.
type codedChaincode struct {
	inner shim.Chaincode
	arity map[string]int
}

func (c *codedChaincode) Init(stub shim.ChaincodeStubInterface) *peer.Response {
	return c.call(stub, c.inner.Init)
}

func (c *codedChaincode) Invoke(stub shim.ChaincodeStubInterface) *peer.Response {
	return c.call(stub, c.inner.Invoke)
}

func (c *codedChaincode) call(stub shim.ChaincodeStubInterface, f func(shim.ChaincodeStubInterface) *peer.Response) (resp *peer.Response) {
	defer func() {
		// A panic is a defect; this only keeps the chaincode server alive and the answer well-formed.
		if r := recover(); r != nil {
			resp = shim.Error(fmt.Sprintf("%s: unexpected failure: %v", CodeInternal, r))
		}
	}()
	fn, params := stub.GetFunctionAndParameters()
	// The contract API also takes a function by its qualified name, "SmartContract:Transfer".
	if i := strings.LastIndex(fn, ":"); i >= 0 {
		fn = fn[i+1:]
	}
	if want, ok := c.arity[fn]; ok && len(params) > want {
		return shim.Error(fmt.Sprintf("%s: %s takes %d arguments, got %d", CodeInvalidArgument, fn, want, len(params)))
	}
	r := f(stub)
	if r == nil {
		return shim.Error(CodeInternal + ": no response")
	}
	if r.Status >= shim.ERRORTHRESHOLD && !hasCode(r.Message) {
		r.Message = CodeInvalidArgument + ": " + r.Message
	}
	return r
}

// CheckGenesis tells whether s can be New's genesis: a SHA-256 in lowercase hex.
func CheckGenesis(s string) error {
	if len(s) != 2*sha256.Size || strings.Trim(s, "0123456789abcdef") != "" {
		return fmt.Errorf("the genesis must be a SHA-256 in lowercase hex (64 digits)")
	}
	return nil
}
