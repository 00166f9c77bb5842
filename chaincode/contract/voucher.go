package contract

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"sort"
	"strings"
	"time"
)

// A voucher is a user's signed statement "I have used N calls of service S in total; this one is for the request
// with digest D, sent at T". Its wire form (the TDSES-Voucher HTTP header, and SettleCalls' argument) is
//
//	v1.<base64url(claim JSON)>.<base64url(ASN.1 DER ECDSA P-256 signature over SHA-256 of "v1.<claim>")>
//
// with unpadded base64url and the claim {"s": service, "u": user, "n": N, "d": base64url(SHA-256 of the request),
// "t": Unix milliseconds}. The signing key is the user's Fabric identity key, registered on chain.
const (
	voucherVersion           = "v1"
	maxVoucherLen            = 1024
	maxVouchersPerSettlement = 256
	maxSettlementLen         = maxVouchersPerSettlement * (maxVoucherLen + 3)
	maxVoucherCalls          = maxAmount // a cumulative count: far above anything a user can buy
	digestLen                = sha256.Size
	voucherKeysKept          = 4 // the current key and the three before it, for vouchers signed before re-enrolling
	// voucherKeyGrace is how long after a user's last new key none of its kept keys may be dropped: a service's
	// server settles the vouchers it holds well within it, so re-enrolling cannot void vouchers not yet settled.
	voucherKeyGrace = 7 * 24 * time.Hour
)

type voucherClaim struct {
	Calls   int64  `json:"n"`
	Digest  string `json:"d"`
	Service string `json:"s"`
	Time    int64  `json:"t"`
	User    string `json:"u"`
}

type voucher struct {
	claim     voucherClaim
	signed    []byte // what the signature covers: "v1.<claim>"
	signature []byte
}

func parseVoucher(s string) (*voucher, error) {
	if len(s) > maxVoucherLen {
		return nil, invalidArg("a voucher must be at most %d bytes", maxVoucherLen)
	}
	parts := strings.Split(s, ".")
	if len(parts) != 3 || parts[0] != voucherVersion {
		return nil, invalidArg("a voucher must be %s.<claim>.<signature>", voucherVersion)
	}
	payload, err := base64.RawURLEncoding.Strict().DecodeString(parts[1])
	if err != nil {
		return nil, invalidArg("the voucher's claim is not unpadded base64url")
	}
	signature, err := base64.RawURLEncoding.Strict().DecodeString(parts[2])
	if err != nil || len(signature) == 0 {
		return nil, invalidArg("the voucher's signature is not unpadded base64url")
	}
	var c voucherClaim
	if err := decodeJSON("the voucher's claim", string(payload), &c); err != nil {
		return nil, err
	}
	if err := validateName("the voucher's service", c.Service); err != nil {
		return nil, err
	}
	if err := validateName("the voucher's user", c.User); err != nil {
		return nil, err
	}
	if err := checkRange("the voucher's count", c.Calls, 1, maxVoucherCalls); err != nil {
		return nil, err
	}
	if d, err := base64.RawURLEncoding.Strict().DecodeString(c.Digest); err != nil || len(d) != digestLen {
		return nil, invalidArg("the voucher's request digest must be a base64url SHA-256")
	}
	if c.Time <= 0 {
		return nil, invalidArg("the voucher's time must be positive Unix milliseconds")
	}
	return &voucher{claim: c, signed: []byte(parts[0] + "." + parts[1]), signature: signature}, nil
}

func (v *voucher) signedBy(keys []string) bool {
	digest := sha256.Sum256(v.signed)
	for _, k := range keys {
		der, err := base64.StdEncoding.DecodeString(k)
		if err != nil {
			continue
		}
		pub, err := x509.ParsePKIXPublicKey(der)
		if err != nil {
			continue
		}
		if ec, ok := pub.(*ecdsa.PublicKey); ok && ecdsa.VerifyASN1(ec, digest[:], v.signature) {
			return true
		}
	}
	return false
}

// VoucherKeys are the public keys a user's vouchers may be signed with (base64 DER SubjectPublicKeyInfo),
// newest first. Registering a user records its certificate's key; UpdateVoucherKey records a re-enrolled one.
type VoucherKeys struct {
	Keys      []string `json:"keys"`
	Status    string   `json:"status"`
	UpdatedAt string   `json:"updatedAt"`
	User      string   `json:"user"`
}

type voucherKeyRecord struct {
	Keys      []string `json:"keys"`
	UpdatedAt string   `json:"updatedAt"` // when a key not kept before was last recorded (a reorder keeps it)
}

// voucherKey is the caller's certificate key as vouchers name it; "" if it cannot sign vouchers (not P-256).
func voucherKey(who caller) string {
	ec, ok := who.publicKey.(*ecdsa.PublicKey)
	if !ok || ec.Curve != elliptic.P256() {
		return ""
	}
	der, err := x509.MarshalPKIXPublicKey(ec)
	if err != nil {
		return ""
	}
	return base64.StdEncoding.EncodeToString(der)
}

func (t *txn) loadVoucherKeys(user string) (*voucherKeyRecord, error) {
	var r voucherKeyRecord
	if _, err := t.get(&r, nsVoucherKey, user); err != nil {
		return nil, err
	}
	return &r, nil
}

// recordVoucherKey makes the caller's key the user's newest voucher key, and returns the user's keys then;
// changed is false if it already was (or the key cannot sign vouchers).
func (t *txn) recordVoucherKey(who caller, user string) (r *voucherKeyRecord, changed bool, err error) {
	if r, err = t.loadVoucherKeys(user); err != nil {
		return nil, false, err
	}
	key := voucherKey(who)
	if key == "" || len(r.Keys) > 0 && r.Keys[0] == key {
		return r, false, nil
	}
	keys := []string{key}
	for _, k := range r.Keys {
		if k == key {
			continue
		}
		if len(keys) == voucherKeysKept {
			if err := t.mayDropVoucherKey(r); err != nil {
				return nil, false, err
			}
			break
		}
		keys = append(keys, k)
	}
	recorded := t.now
	if contains(r.Keys, key) { // an older certificate's key again: the grace of the oldest key does not start over
		recorded = r.UpdatedAt
	}
	r = &voucherKeyRecord{Keys: keys, UpdatedAt: recorded}
	return r, true, t.put(r, nsVoucherKey, user)
}

// mayDropVoucherKey refuses to drop a user's oldest voucher key within voucherKeyGrace of the last new key. The
// time is the transaction's, which its client sets: a gateway sets it for its users, and so does every client
// of the peers, which Fabric 2.5 does not hold to their own clocks (README, "Vouchers").
func (t *txn) mayDropVoucherKey(r *voucherKeyRecord) error {
	changed, err := time.Parse(time.RFC3339Nano, r.UpdatedAt)
	if err != nil {
		return internal("reading the voucher keys' time", err)
	}
	now, err := time.Parse(time.RFC3339Nano, t.now)
	if err != nil {
		return internal("reading the transaction time", err)
	}
	if until := changed.Add(voucherKeyGrace); now.Before(until) {
		return invalidState("the user already has %d voucher keys, the last one recorded at %s: the oldest may "+
			"still sign vouchers not yet settled, so a new key can be recorded from %s", voucherKeysKept,
			r.UpdatedAt, until.UTC().Format(timeLayout))
	}
	return nil
}

// Settlement is what SettleCalls did: the users whose used calls grew, and the vouchers it refused.
type Settlement struct {
	Rejected []RejectedVoucher `json:"rejected"`
	Service  string            `json:"service"`
	Settled  []SettledRights   `json:"settled"`
	Settler  string            `json:"settler"`
	TxID     string            `json:"txId"`
}

// SettledRights is one user's rights after a settlement; Calls is how many calls it added to Used.
type SettledRights struct {
	Calls     int64  `json:"calls"`
	Remaining int64  `json:"remaining"`
	Used      int64  `json:"used"`
	User      string `json:"user"`
}

// RejectedVoucher is a well-formed voucher that does not hold against the ledger; it changed nothing.
type RejectedVoucher struct {
	Calls  int64  `json:"calls"`
	Index  int    `json:"index"`
	Reason string `json:"reason"`
	User   string `json:"user"`
}

// Reasons a voucher is rejected at settlement.
const (
	rejectUnknownUser   = "UNKNOWN_USER"
	rejectUserRemoved   = "USER_REMOVED"
	rejectBadSignature  = "BAD_SIGNATURE"
	rejectBeyondBought  = "BEYOND_BOUGHT"
	rejectNoVoucherKeys = "NO_VOUCHER_KEY"
)

// SettleRecord is written once per (service, user) a settlement moved, under a key ending in the transaction id.
type SettleRecord struct {
	Calls     int64  `json:"calls"`
	Service   string `json:"service"`
	Settler   string `json:"settler"`
	Timestamp string `json:"timestamp"`
	TxID      string `json:"txId"`
	Used      int64  `json:"used"`
	User      string `json:"user"`
}

// parseSettlement reads SettleCalls' argument: a JSON array of 1..256 vouchers, all for service.
func parseSettlement(service, vouchersJSON string) ([]*voucher, error) {
	if len(vouchersJSON) > maxSettlementLen {
		return nil, invalidArg("vouchers must be at most %d bytes", maxSettlementLen)
	}
	var raw []string
	if err := json.Unmarshal([]byte(vouchersJSON), &raw); err != nil {
		return nil, invalidArg("vouchers must be a JSON array of strings: %s", jsonProblem(err))
	}
	if len(raw) == 0 || len(raw) > maxVouchersPerSettlement {
		return nil, invalidArg("vouchers must hold 1 to %d vouchers, got %d", maxVouchersPerSettlement, len(raw))
	}
	out := make([]*voucher, len(raw))
	for i, s := range raw {
		v, err := parseVoucher(s)
		if err != nil {
			return nil, invalidArg("voucher %d: %s", i, err.(*Error).Message)
		}
		if v.claim.Service != service {
			return nil, invalidArg("voucher %d is for service %q, not %q", i, v.claim.Service, service)
		}
		out[i] = v
	}
	return out, nil
}

// settleUser sets a user's used calls to the highest count among its vouchers that holds: signed with one of its
// keys and within what it bought. Used only grows, so settling a voucher again changes nothing.
func (t *txn) settleUser(service, user string, vs []*voucher, indexes []int) (*SettledRights, []RejectedVoucher, error) {
	reject := func(i int, reason string) RejectedVoucher {
		return RejectedVoucher{Calls: vs[i].claim.Calls, Index: indexes[i], Reason: reason, User: user}
	}
	rejectAll := func(reason string) []RejectedVoucher {
		out := make([]RejectedVoucher, len(vs))
		for i := range vs {
			out[i] = reject(i, reason)
		}
		return out
	}
	var u userRecord
	found, err := t.get(&u, nsUser, user)
	if err != nil {
		return nil, nil, err
	}
	if !found {
		return nil, rejectAll(rejectUnknownUser), nil
	}
	if u.Status != userActive {
		return nil, rejectAll(rejectUserRemoved), nil
	}
	keys, err := t.loadVoucherKeys(user)
	if err != nil {
		return nil, nil, err
	}
	if len(keys.Keys) == 0 {
		return nil, rejectAll(rejectNoVoucherKeys), nil
	}
	r, _, err := t.loadRights(service, user)
	if err != nil {
		return nil, nil, err
	}
	var rejected []RejectedVoucher
	best := int64(0)
	for i, v := range vs { // highest count first
		if best > 0 {
			break
		}
		switch {
		case v.claim.Calls > r.Bought:
			rejected = append(rejected, reject(i, rejectBeyondBought))
		case !v.signedBy(keys.Keys):
			rejected = append(rejected, reject(i, rejectBadSignature))
		default:
			best = v.claim.Calls
		}
	}
	if best <= r.Used {
		return nil, rejected, nil
	}
	calls := best - r.Used
	r.Used, r.Remaining, r.UpdatedAt = best, r.Bought-best, t.now
	if err := t.put(r, nsRights, service, user); err != nil {
		return nil, nil, err
	}
	return &SettledRights{Calls: calls, Remaining: r.Remaining, Used: r.Used, User: user}, rejected, nil
}

// mayMeter checks that user is the service's developer or a server the developer authorized.
func (t *txn) mayMeter(s *Service, user string) error {
	if s.Developer == user {
		return nil
	}
	authorized, err := t.exists(nsServer, s.Name, user)
	if err != nil {
		return err
	}
	if !authorized {
		return forbidden("user %q is neither the developer of %q nor a server it authorized", user, s.Name)
	}
	return nil
}

// groupByUser orders vouchers by user name, and within a user by count, highest first (then by position):
// the order of the argument never changes the outcome.
func groupByUser(vs []*voucher) (users []string, byUser map[string][]int) {
	byUser = map[string][]int{}
	for i, v := range vs {
		if _, seen := byUser[v.claim.User]; !seen {
			users = append(users, v.claim.User)
		}
		byUser[v.claim.User] = append(byUser[v.claim.User], i)
	}
	sort.Strings(users)
	for _, u := range users {
		idx := byUser[u]
		sort.SliceStable(idx, func(a, b int) bool { return vs[idx[a]].claim.Calls > vs[idx[b]].claim.Calls })
	}
	return users, byUser
}
