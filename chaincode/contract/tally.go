package contract

import (
	"encoding/json"
	"fmt"
	"math"
	"time"
	"unicode/utf8"

	"github.com/hyperledger/fabric-chaincode-go/v2/shim"
)

// addChecked and subChecked are the only ways amounts and counters change.
func addChecked(a, b int64) (int64, error) {
	if (b > 0 && a > math.MaxInt64-b) || (b < 0 && a < math.MinInt64-b) {
		return 0, internal("arithmetic", fmt.Errorf("%d + %d overflows", a, b))
	}
	return a + b, nil
}

func subChecked(a, b int64) (int64, error) {
	if b == math.MinInt64 {
		return 0, internal("arithmetic", fmt.Errorf("%d - %d overflows", a, b))
	}
	return addChecked(a, -b)
}

func mulChecked(a, b int64) (int64, error) {
	if a < 0 || b < 0 {
		return 0, internal("arithmetic", fmt.Errorf("negative factor %d × %d", a, b))
	}
	if a != 0 && b > math.MaxInt64/a {
		return 0, internal("arithmetic", fmt.Errorf("%d × %d overflows", a, b))
	}
	return a * b, nil
}

// Tally holds the integer counters of one owner (a user, an organization or a service). Only the fields that
// make sense for the owner are used: users have balance, buyers (NP: distinct users who paid for calls, per
// service), composers (NI: distinct other users who composed it, per service), callsBought and compositions;
// services have callsBought, callsUsed and compositions; organizations have balance.
//
// A tally is stored as a base record plus delta records, one per crediting transaction. Crediting writes a new
// delta key without reading anything, so many buyers paying one developer never conflict; reading folds the
// deltas into the base; the owner's own transactions compact them.
type Tally struct {
	Balance      int64 `json:"balance"`
	Buyers       int64 `json:"buyers,omitempty"`
	CallsBought  int64 `json:"callsBought"`
	CallsUsed    int64 `json:"callsUsed"`
	Composers    int64 `json:"composers,omitempty"`
	Compositions int64 `json:"compositions"`
}

func (a Tally) plus(b Tally) (Tally, error) {
	var err error
	var out Tally
	if out.Balance, err = addChecked(a.Balance, b.Balance); err != nil {
		return Tally{}, err
	}
	if out.CallsBought, err = addChecked(a.CallsBought, b.CallsBought); err != nil {
		return Tally{}, err
	}
	if out.CallsUsed, err = addChecked(a.CallsUsed, b.CallsUsed); err != nil {
		return Tally{}, err
	}
	if out.Compositions, err = addChecked(a.Compositions, b.Compositions); err != nil {
		return Tally{}, err
	}
	if out.Buyers, err = addChecked(a.Buyers, b.Buyers); err != nil {
		return Tally{}, err
	}
	if out.Composers, err = addChecked(a.Composers, b.Composers); err != nil {
		return Tally{}, err
	}
	return out, nil
}

// The deltas one transaction sums (a read) or folds and deletes (a debit, a compaction, a removal: its write set
// grows with them). Both must stay below the peer's totalQueryLimit (network-config/fabric/core.yaml, checked by
// a test): past it a range query ends without an error, and a sum would silently come out short. Variables for
// the tests.
var (
	maxSummedDeltas = 90000
	maxFoldedDeltas = 20000
)

// tallyRead is a folded tally together with the delta keys that were folded into it; complete is false when
// more deltas wait beyond them.
type tallyRead struct {
	total     Tally
	deltaKeys []string
	complete  bool
}

// A fold reads an owner's deltas with a range query, which Fabric runs again at commit: a credit committed
// meanwhile into the range fails the fold as a phantom read. An owner credited in every block (a popular
// service's developer) could then never fold, nor spend what it earned. So a delta's key sorts by its
// transaction's time, and a fold of the settled deltas reads only those not dated within creditInFlight of its
// own time: the most time between a transaction's timestamp and its commit, clock differences between clients
// included. A credit that took longer costs the fold one retry, never a token.
const creditInFlight = 10 * time.Second

// deltaPrefix starts the keys of an owner's deltas: the composite key (kind, owner) of nsTallyDelta begun with
// deltaMark instead of U+0000, a simple key, since only those may bound a range query. A delta's key goes on with
// its transaction's time (timeLayout: fixed width, so keys sort by it), id and sequence number.
func (t *txn) deltaPrefix(kind, owner string) (string, error) {
	k, err := t.key(nsTallyDelta, kind, owner)
	if err != nil {
		return "", err
	}
	return deltaMark + k[1:], nil
}

// base reads only the base record: no range query, so no phantom-read conflict with concurrent credits.
func (t *txn) tallyBase(kind, owner string) (Tally, error) {
	var b Tally
	if _, err := t.get(&b, nsTally, kind, owner); err != nil {
		return Tally{}, err
	}
	return b, nil
}

// readTally folds the base record and all the deltas of an owner, at most bound of them.
func (t *txn) readTally(kind, owner string, bound int) (tallyRead, error) {
	return t.fold(kind, owner, bound, []timeRange{{"", string(utf8.MaxRune)}})
}

// readSettled folds the base record and the owner's deltas not dated within creditInFlight of the transaction's
// time, at most bound of them: those older, and those dated further ahead (a client sets its transaction's time:
// such a credit would otherwise wait for a compaction for ever).
func (t *txn) readSettled(kind, owner string, bound int) (tallyRead, error) {
	return t.fold(kind, owner, bound, []timeRange{
		{"", t.at.Add(-creditInFlight).Format(timeLayout)},
		{t.at.Add(creditInFlight).Format(timeLayout), string(utf8.MaxRune)},
	})
}

// timeRange is [from, to) of the times in delta keys.
type timeRange struct{ from, to string }

// fold reads the deltas whose times are in the ranges: first those written by chaincode versions whose delta
// keys were composite keys without a time (no credit adds to them now), then the time-ordered ones.
func (t *txn) fold(kind, owner string, bound int, ranges []timeRange) (tallyRead, error) {
	base, err := t.tallyBase(kind, owner)
	if err != nil {
		return tallyRead{}, err
	}
	out := tallyRead{total: base, complete: true}
	untimed, err := t.stub.GetStateByPartialCompositeKey(nsTallyDelta, []string{kind, owner})
	if err != nil {
		return tallyRead{}, internal("querying deltas", err)
	}
	if err := out.add(untimed, bound); err != nil || !out.complete {
		return out, err
	}
	prefix, err := t.deltaPrefix(kind, owner)
	if err != nil {
		return tallyRead{}, err
	}
	for _, r := range ranges {
		timed, err := t.stub.GetStateByRange(prefix+r.from, prefix+r.to)
		if err != nil {
			return tallyRead{}, internal("querying deltas", err)
		}
		if err := out.add(timed, bound); err != nil || !out.complete {
			return out, err
		}
	}
	return out, nil
}

// add folds the deltas of it into r until r holds bound of them.
func (r *tallyRead) add(it shim.StateQueryIteratorInterface, bound int) error {
	defer it.Close()
	for it.HasNext() {
		if len(r.deltaKeys) == bound {
			r.complete = false
			return nil
		}
		kv, err := it.Next()
		if err != nil {
			return internal("iterating deltas", err)
		}
		var d Tally
		if err := json.Unmarshal(kv.Value, &d); err != nil {
			return internal("decoding delta", err)
		}
		if r.total, err = r.total.plus(d); err != nil {
			return err
		}
		r.deltaKeys = append(r.deltaKeys, kv.Key)
	}
	return nil
}

// fullTally is an owner's whole tally, or INVALID_STATE when it has more than bound deltas.
func (t *txn) fullTally(kind, owner string, bound int) (tallyRead, error) {
	r, err := t.readTally(kind, owner, bound)
	if err != nil {
		return tallyRead{}, err
	}
	if !r.complete {
		return tallyRead{}, tooManyDeltas(kind, owner, bound)
	}
	return r, nil
}

func tooManyDeltas(kind, owner string, bound int) error {
	compact := "CompactAccount"
	if kind == ownerService {
		compact = "CompactService"
	}
	return invalidState("%s %q has more than %d credits not folded yet: its owner folds them with %s first",
		kind, owner, bound, compact)
}

// credit adds d to an owner's tally by writing a fresh delta key; it reads nothing.
func (t *txn) credit(kind, owner string, d Tally) error {
	if d.Balance < 0 || d.CallsBought < 0 || d.CallsUsed < 0 || d.Compositions < 0 || d.Buyers < 0 || d.Composers < 0 {
		return internal("credit", fmt.Errorf("negative delta %+v", d))
	}
	if d == (Tally{}) {
		return nil
	}
	prefix, err := t.deltaPrefix(kind, owner)
	if err != nil {
		return err
	}
	return t.putKey(prefix+t.now+"\x00"+t.id+"\x00"+t.nextSeq()+"\x00", d)
}

// compact folds an owner's settled deltas (at most maxFoldedDeltas: r.complete says whether that was all) into
// a new base, and deletes them.
func (t *txn) compact(kind, owner string) (tallyRead, error) {
	r, err := t.readSettled(kind, owner, maxFoldedDeltas)
	if err != nil {
		return tallyRead{}, err
	}
	if err := t.put(r.total, nsTally, kind, owner); err != nil {
		return tallyRead{}, err
	}
	for _, k := range r.deltaKeys {
		if err := t.delKey(k); err != nil {
			return tallyRead{}, err
		}
	}
	return r, nil
}

// debit takes amount from an owner's balance. If the base record covers it, only the base is read and written;
// otherwise the settled deltas are folded in (and compacted) first, and all of them if that is not enough. The
// caller is the owner, so this read-modify-write conflicts only with the owner's own transactions and, when it
// needs credits dated within creditInFlight of now, with credits committed meanwhile.
func (t *txn) debit(kind, owner string, amount int64) error {
	if amount < 0 {
		return internal("debit", fmt.Errorf("negative amount %d", amount))
	}
	if amount == 0 {
		return nil
	}
	base, err := t.tallyBase(kind, owner)
	if err != nil {
		return err
	}
	var deltaKeys []string
	if base.Balance < amount {
		r, err := t.readSettled(kind, owner, maxFoldedDeltas)
		if err == nil && r.total.Balance < amount && r.complete {
			r, err = t.readTally(kind, owner, maxFoldedDeltas)
		}
		if err != nil {
			return err
		}
		if r.total.Balance < amount && !r.complete {
			return tooManyDeltas(kind, owner, maxFoldedDeltas)
		}
		if r.total.Balance < amount {
			return insufficient("%s %q has %d SToken, needs %d", kind, owner, r.total.Balance, amount)
		}
		base, deltaKeys = r.total, r.deltaKeys
	}
	if base.Balance, err = subChecked(base.Balance, amount); err != nil {
		return err
	}
	if err := t.put(base, nsTally, kind, owner); err != nil {
		return err
	}
	for _, k := range deltaKeys {
		if err := t.delKey(k); err != nil {
			return err
		}
	}
	return nil
}
