package contract

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hyperledger/fabric-chaincode-go/v2/shim"
	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/queryresult"
	"github.com/hyperledger/fabric-protos-go-apiv2/msp"
	"github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// This file is an in-memory Fabric peer for tests: a world state with versions, a stub per transaction with
// Fabric's semantics (no read-your-writes, empty value = delete, paginated queries only in read-only
// transactions, one event kept per transaction), and block validation with MVCC and phantom-read checks.

type versioned struct {
	value   []byte
	version uint64
}

// world is the committed state of the channel.
type world struct {
	state  map[string]versioned
	height uint64
}

func newWorld() *world { return &world{state: map[string]versioned{}} }

func (w *world) sortedKeys(start, end string) []string {
	var keys []string
	for k := range w.state {
		if k >= start && (end == "" || k < end) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	return keys
}

type rangeRead struct {
	start, end string
	limit      int // 0 = unlimited
	keys       []string
	versions   []uint64
}

type event struct {
	name    string
	payload []byte
}

// fakeStub is one transaction's simulation against the world.
type fakeStub struct {
	shim.ChaincodeStubInterface // methods the chaincode must not use panic through this nil interface

	w         *world
	txID      string
	args      [][]byte
	creator   []byte
	creatorOK bool
	ts        *timestamppb.Timestamp

	reads     map[string]uint64
	ranges    []rangeRead
	writes    map[string][]byte // nil value = delete
	events    []event
	paginated bool

	ops    int // ledger operations so far, for fault injection
	failAt int // if > 0, the failAt-th ledger operation fails
}

var errInjected = errors.New("injected ledger failure")

// fault counts a ledger operation and reports whether it must fail.
func (s *fakeStub) fault() error {
	s.ops++
	if s.failAt > 0 && s.ops == s.failAt {
		return errInjected
	}
	return nil
}

func newFakeStub(w *world, txID string, creator []byte, ts time.Time, fn string, args ...string) *fakeStub {
	s := &fakeStub{
		w: w, txID: txID, creator: creator, creatorOK: true, ts: timestamppb.New(ts),
		reads: map[string]uint64{}, writes: map[string][]byte{},
	}
	s.args = append(s.args, []byte(fn))
	for _, a := range args {
		s.args = append(s.args, []byte(a))
	}
	return s
}

func (s *fakeStub) GetArgs() [][]byte { return s.args }

func (s *fakeStub) GetStringArgs() []string {
	out := make([]string, len(s.args))
	for i, a := range s.args {
		out[i] = string(a)
	}
	return out
}

func (s *fakeStub) GetFunctionAndParameters() (string, []string) {
	a := s.GetStringArgs()
	if len(a) == 0 {
		return "", []string{}
	}
	return a[0], a[1:]
}

func (s *fakeStub) GetTxID() string      { return s.txID }
func (s *fakeStub) GetChannelID() string { return "tdses" }
func (s *fakeStub) GetTxTimestamp() (*timestamppb.Timestamp, error) {
	if err := s.fault(); err != nil {
		return nil, err
	}
	return s.ts, nil
}
func (s *fakeStub) GetDecorations() map[string][]byte { return nil }

func (s *fakeStub) GetCreator() ([]byte, error) {
	if !s.creatorOK {
		return nil, errors.New("no creator")
	}
	return s.creator, nil
}

func (s *fakeStub) GetState(key string) ([]byte, error) {
	if err := s.fault(); err != nil {
		return nil, err
	}
	if key == "" {
		return nil, errors.New("key must not be an empty string")
	}
	v, ok := s.w.state[key]
	s.reads[key] = v.version
	if !ok {
		return nil, nil
	}
	return slices.Clone(v.value), nil
}

func (s *fakeStub) PutState(key string, value []byte) error {
	if err := s.fault(); err != nil {
		return err
	}
	if key == "" {
		return errors.New("key must not be an empty string")
	}
	if s.paginated {
		return errors.New("transaction with a paginated query cannot write")
	}
	if len(value) == 0 {
		value = nil // Fabric treats an empty value as a delete
	}
	s.writes[key] = slices.Clone(value)
	return nil
}

func (s *fakeStub) DelState(key string) error {
	if err := s.fault(); err != nil {
		return err
	}
	if key == "" {
		return errors.New("key must not be an empty string")
	}
	if s.paginated {
		return errors.New("transaction with a paginated query cannot write")
	}
	s.writes[key] = nil
	return nil
}

func (s *fakeStub) SetEvent(name string, payload []byte) error {
	if err := s.fault(); err != nil {
		return err
	}
	if name == "" {
		return errors.New("event name can not be empty string")
	}
	s.events = append(s.events, event{name, slices.Clone(payload)})
	return nil
}

func (s *fakeStub) CreateCompositeKey(objectType string, attributes []string) (string, error) {
	return shim.CreateCompositeKey(objectType, attributes)
}

func (s *fakeStub) SplitCompositeKey(key string) (string, []string, error) {
	if len(key) < 2 || key[0] != 0 || key[len(key)-1] != 0 {
		return "", nil, fmt.Errorf("not a composite key: %q", key)
	}
	parts := strings.Split(key[1:len(key)-1], "\x00")
	return parts[0], parts[1:], nil
}

func partialRange(objectType string, attrs []string) (string, string, error) {
	start, err := shim.CreateCompositeKey(objectType, attrs)
	if err != nil {
		return "", "", err
	}
	return start, start + string(rune(0x10FFFF)), nil
}

func (s *fakeStub) scan(start, end string, limit int) *fakeIterator {
	keys := s.w.sortedKeys(start, end)
	if limit > 0 && len(keys) > limit {
		keys = keys[:limit]
	}
	rr := rangeRead{start: start, end: end, limit: limit, keys: keys}
	it := &fakeIterator{stub: s}
	for _, k := range keys {
		v := s.w.state[k]
		rr.versions = append(rr.versions, v.version)
		it.kvs = append(it.kvs, &queryresult.KV{Namespace: "tdses", Key: k, Value: slices.Clone(v.value)})
	}
	s.ranges = append(s.ranges, rr)
	return it
}

// GetStateByRange takes simple keys only, as the shim's does.
func (s *fakeStub) GetStateByRange(start, end string) (shim.StateQueryIteratorInterface, error) {
	if err := s.fault(); err != nil {
		return nil, err
	}
	for _, k := range []string{start, end} {
		if strings.HasPrefix(k, "\x00") {
			return nil, fmt.Errorf("first character of the key [%s] contains a null character which is not allowed", k)
		}
	}
	return s.scan(start, end, 0), nil
}

func (s *fakeStub) GetStateByPartialCompositeKey(objectType string, attrs []string) (shim.StateQueryIteratorInterface, error) {
	if err := s.fault(); err != nil {
		return nil, err
	}
	start, end, err := partialRange(objectType, attrs)
	if err != nil {
		return nil, err
	}
	return s.scan(start, end, 0), nil
}

func (s *fakeStub) GetStateByPartialCompositeKeyWithPagination(objectType string, attrs []string, pageSize int32,
	bookmark string) (shim.StateQueryIteratorInterface, *peer.QueryResponseMetadata, error) {
	if err := s.fault(); err != nil {
		return nil, nil, err
	}
	if len(s.writes) > 0 {
		return nil, nil, errors.New("paginated queries are only supported in read-only transactions")
	}
	if pageSize <= 0 {
		return nil, nil, errors.New("pageSize must be positive")
	}
	start, end, err := partialRange(objectType, attrs)
	if err != nil {
		return nil, nil, err
	}
	if bookmark != "" {
		if bookmark < start || bookmark >= end {
			return nil, nil, fmt.Errorf("bookmark %q outside the range", bookmark)
		}
		start = bookmark
	}
	s.paginated = true
	it := s.scan(start, end, int(pageSize)+1)
	meta := &peer.QueryResponseMetadata{}
	if len(it.kvs) > int(pageSize) {
		meta.Bookmark = it.kvs[pageSize].Key
		it.kvs = it.kvs[:pageSize]
	}
	meta.FetchedRecordsCount = int32(len(it.kvs))
	return it, meta, nil
}

type fakeIterator struct {
	stub *fakeStub
	kvs  []*queryresult.KV
	i    int
}

func (it *fakeIterator) HasNext() bool { return it.i < len(it.kvs) }
func (it *fakeIterator) Close() error  { return nil }
func (it *fakeIterator) Next() (*queryresult.KV, error) {
	if err := it.stub.fault(); err != nil {
		return nil, err
	}
	if it.i >= len(it.kvs) {
		return nil, errors.New("no more results")
	}
	it.i++
	return it.kvs[it.i-1], nil
}

// validate is Fabric's MVCC check at commit: every key read and every range scanned must be unchanged.
func (w *world) validate(s *fakeStub) bool {
	for k, ver := range s.reads {
		if w.state[k].version != ver {
			return false
		}
	}
	for _, rr := range s.ranges {
		keys := w.sortedKeys(rr.start, rr.end)
		if rr.limit > 0 && len(keys) > rr.limit {
			keys = keys[:rr.limit]
		}
		if !slices.Equal(keys, rr.keys) {
			return false
		}
		for i, k := range keys {
			if w.state[k].version != rr.versions[i] {
				return false
			}
		}
	}
	return true
}

// commitBlock validates endorsed transactions in order and applies the valid ones, as a peer does.
func (w *world) commitBlock(txs []*fakeStub) []bool {
	w.height++
	valid := make([]bool, len(txs))
	for i, s := range txs {
		if !w.validate(s) {
			continue
		}
		valid[i] = true
		version := w.height<<20 | uint64(i+1)
		for k, v := range s.writes {
			if v == nil {
				delete(w.state, k)
			} else {
				w.state[k] = versioned{value: v, version: version}
			}
		}
	}
	return valid
}

// ident is a client identity with a real X.509 certificate, as the peer hands it to the chaincode.
type ident struct {
	mspID   string
	cn      string
	admin   bool
	creator []byte
	key     *ecdsa.PrivateKey
}

var (
	identMu    sync.Mutex
	identCache = map[string]*ident{}
)

func newIdent(tb testing.TB, mspID, cn string, admin bool) *ident {
	return newIdentAt(tb, mspID, cn, admin, "")
}

// testCA is an organization's certificate authority: it issues every test identity of that MSP.
type testCA struct {
	key  *ecdsa.PrivateKey
	cert *x509.Certificate
}

var testCAs = map[string]*testCA{}

func caOf(tb testing.TB, mspID string) *testCA {
	if ca, ok := testCAs[mspID]; ok {
		return ca
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "ca." + mspID, Organization: []string{mspID}},
		NotBefore: time.Unix(0, 0), NotAfter: time.Unix(4e9, 0), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		tb.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		tb.Fatal(err)
	}
	testCAs[mspID] = &testCA{key: key, cert: cert}
	return testCAs[mspID]
}

// newIdentAt is newIdent with a Locality in the subject: the same enrollment re-enrolled with another CSR.
func newIdentAt(tb testing.TB, mspID, cn string, admin bool, locality string) *ident {
	identMu.Lock()
	defer identMu.Unlock()
	cacheKey := fmt.Sprintf("%s|%s|%t|%s", mspID, cn, admin, locality)
	if id, ok := identCache[cacheKey]; ok {
		return id
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	ou := "client"
	if admin {
		ou = "admin"
	}
	subject := pkix.Name{CommonName: cn, OrganizationalUnit: []string{ou}, Organization: []string{mspID}}
	if locality != "" {
		subject.Locality = []string{locality}
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(int64(len(identCache) + 2)), Subject: subject,
		NotBefore: time.Unix(0, 0), NotAfter: time.Unix(4e9, 0),
	}
	ca := caOf(tb, mspID)
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		tb.Fatal(err)
	}
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	creator, err := proto.Marshal(&msp.SerializedIdentity{Mspid: mspID, IdBytes: pemBytes})
	if err != nil {
		tb.Fatal(err)
	}
	id := &ident{mspID: mspID, cn: cn, admin: admin, creator: creator, key: key}
	identCache[cacheKey] = id
	return id
}
