package contract

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/hyperledger/fabric-chaincode-go/v2/shim"
)

// txn is one transaction's view of the ledger: the stub, its id and timestamp, a counter that makes the keys
// written by this transaction unique, and the rule of one event per transaction.
type txn struct {
	stub    shim.ChaincodeStubInterface
	id      string
	at      time.Time // the transaction timestamp: identical on every endorser
	now     string    // at in timeLayout
	seq     int
	emitted bool
}

func begin(stub shim.ChaincodeStubInterface) (*txn, error) {
	id := stub.GetTxID()
	if id == "" {
		return nil, invalidArg("transaction has no id")
	}
	ts, err := stub.GetTxTimestamp()
	if err != nil || ts == nil {
		return nil, internal("reading the transaction timestamp", err)
	}
	if err := ts.CheckValid(); err != nil {
		return nil, invalidArg("transaction timestamp is invalid: %v", err)
	}
	at := ts.AsTime().UTC()
	return &txn{stub: stub, id: id, at: at, now: at.Format(timeLayout)}, nil
}

// timeLayout is RFC 3339 in UTC with all nine fractional digits. Fixed width, times sort as their strings (the
// registry index orders services by createdAt); RFC3339Nano trims trailing zeros, so 12:00:00.5Z sorted before
// 12:00:00Z.
const timeLayout = "2006-01-02T15:04:05.000000000Z07:00"

// beginQuery starts a read: any valid identity may query, registered or not.
func beginQuery(stub shim.ChaincodeStubInterface) (*txn, error) {
	t, err := begin(stub)
	if err != nil {
		return nil, err
	}
	if _, err := t.identify(); err != nil {
		return nil, err
	}
	return t, nil
}

// beginAsUser starts a change that the caller makes as its own active user.
func beginAsUser(stub shim.ChaincodeStubInterface) (*txn, caller, *userRecord, error) {
	t, err := begin(stub)
	if err != nil {
		return nil, caller{}, nil, err
	}
	who, user, err := t.actingUser()
	if err != nil {
		return nil, caller{}, nil, err
	}
	return t, who, user, nil
}

// beginAsMaintainer starts a change that only an admin of a maintaining organization may make.
func beginAsMaintainer(stub shim.ChaincodeStubInterface) (*txn, *config, caller, error) {
	t, err := begin(stub)
	if err != nil {
		return nil, nil, caller{}, err
	}
	cfg, err := t.loadConfig()
	if err != nil {
		return nil, nil, caller{}, err
	}
	who, err := t.maintainerAdmin(cfg)
	if err != nil {
		return nil, nil, caller{}, err
	}
	return t, cfg, who, nil
}

func (t *txn) key(ns string, attrs ...string) (string, error) {
	k, err := t.stub.CreateCompositeKey(ns, attrs)
	if err != nil {
		// Inputs are validated before keys are built, so this is our bug, not the client's.
		return "", internal("building key", err)
	}
	return k, nil
}

// get reads a JSON object; found is false if the key is absent.
func (t *txn) get(v any, ns string, attrs ...string) (found bool, err error) {
	k, err := t.key(ns, attrs...)
	if err != nil {
		return false, err
	}
	b, err := t.stub.GetState(k)
	if err != nil {
		return false, internal("reading state", err)
	}
	if b == nil {
		return false, nil
	}
	if err := json.Unmarshal(b, v); err != nil {
		return false, internal(fmt.Sprintf("decoding %s", ns), err)
	}
	return true, nil
}

func (t *txn) exists(ns string, attrs ...string) (bool, error) {
	k, err := t.key(ns, attrs...)
	if err != nil {
		return false, err
	}
	b, err := t.stub.GetState(k)
	if err != nil {
		return false, internal("reading state", err)
	}
	return b != nil, nil
}

func (t *txn) put(v any, ns string, attrs ...string) error {
	k, err := t.key(ns, attrs...)
	if err != nil {
		return err
	}
	return t.putKey(k, v)
}

func (t *txn) putKey(k string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return internal("encoding state", err)
	}
	if err := t.stub.PutState(k, b); err != nil {
		return internal("writing state", err)
	}
	return nil
}

func (t *txn) putMarker(ns string, attrs ...string) error {
	k, err := t.key(ns, attrs...)
	if err != nil {
		return err
	}
	if err := t.stub.PutState(k, indexMarker); err != nil {
		return internal("writing index", err)
	}
	return nil
}

func (t *txn) del(ns string, attrs ...string) error {
	k, err := t.key(ns, attrs...)
	if err != nil {
		return err
	}
	return t.delKey(k)
}

func (t *txn) delKey(k string) error {
	if err := t.stub.DelState(k); err != nil {
		return internal("deleting state", err)
	}
	return nil
}

// partialKeyAttrs lists the last attribute of every key of ns whose first attribute is first (two-attribute keys).
func (t *txn) partialKeyAttrs(ns, first string) ([]string, error) {
	it, err := t.stub.GetStateByPartialCompositeKey(ns, []string{first})
	if err != nil {
		return nil, internal("querying "+ns, err)
	}
	defer it.Close()
	var out []string
	for it.HasNext() {
		kv, err := it.Next()
		if err != nil {
			return nil, internal("iterating "+ns, err)
		}
		_, attrs, err := t.stub.SplitCompositeKey(kv.Key)
		if err != nil || len(attrs) != 2 {
			return nil, internal("splitting key", err)
		}
		out = append(out, attrs[1])
	}
	return out, nil
}

// nextSeq numbers the delta keys written by this transaction so that two credits in one transaction never
// overwrite each other.
func (t *txn) nextSeq() string {
	t.seq++
	return fmt.Sprintf("%06d", t.seq)
}

// emit sets the transaction's single chaincode event. Fabric keeps only one per transaction, so a second
// call is a bug in this chaincode.
func (t *txn) emit(name string, payload any) error {
	if t.emitted {
		return internal("emitting "+name, fmt.Errorf("an event was already emitted in this transaction"))
	}
	b, err := json.Marshal(payload)
	if err != nil {
		return internal("encoding event", err)
	}
	if err := t.stub.SetEvent(name, b); err != nil {
		return internal("setting event", err)
	}
	t.emitted = true
	return nil
}
