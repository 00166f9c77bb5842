package contract

import (
	"encoding/json"

	"github.com/hyperledger/fabric-contract-api-go/v2/contractapi"
)

// ServiceCallTime is a user's call-time rights on one service. Remaining = Bought - Used, never negative.
type ServiceCallTime struct {
	Bought    int64  `json:"bought"`
	Paid      int64  `json:"paid"`
	Remaining int64  `json:"remaining"`
	Service   string `json:"service"`
	UpdatedAt string `json:"updatedAt"`
	Used      int64  `json:"used"`
	User      string `json:"user"`
	// VouchersOnly: some of these calls were bought while the service required vouchers, so they are used up only
	// by settling vouchers, even after the developer stops requiring them (ReduceCallTime refuses).
	VouchersOnly bool `json:"vouchersOnly,omitempty" metadata:",optional"`
}

// BuyRecord and ReduceRecord are written once per transaction under a key that ends in the transaction id,
// so no record ever overwrites another.
type BuyRecord struct {
	Buyer     string `json:"buyer"`
	Calls     int64  `json:"calls"`
	Cost      int64  `json:"cost"`
	Price     int64  `json:"price"`
	Service   string `json:"service"`
	Timestamp string `json:"timestamp"`
	TxID      string `json:"txId"`
}

type ReduceRecord struct {
	Calls     int64  `json:"calls"`
	Reducer   string `json:"reducer"`
	Service   string `json:"service"`
	Timestamp string `json:"timestamp"`
	TxID      string `json:"txId"`
	User      string `json:"user"`
}

// ServiceUsage is the folded call and composition counters of one service.
type ServiceUsage struct {
	CallsBought  int64  `json:"callsBought"`
	CallsUsed    int64  `json:"callsUsed"`
	Compositions int64  `json:"compositions"`
	Service      string `json:"service"`
}

// ServerGrant records that a developer lets a server user decrement rights on one service.
type ServerGrant struct {
	AuthorizedAt string `json:"authorizedAt"`
	Server       string `json:"server"`
	Service      string `json:"service"`
}

// RewardReceipt describes a reward paid to a service's developer.
type RewardReceipt struct {
	Amount    int64  `json:"amount"`
	Developer string `json:"developer"`
	From      string `json:"from"`
	Service   string `json:"service"`
	TxID      string `json:"txId"`
}

func (t *txn) loadRights(service, user string) (*ServiceCallTime, bool, error) {
	r := &ServiceCallTime{Service: service, User: user}
	found, err := t.get(r, nsRights, service, user)
	if err != nil {
		return nil, false, err
	}
	return r, found, nil
}

// serviceToPay loads a service that payer may pay for: available, and developed by someone else.
func (t *txn) serviceToPay(service, payer, action string) (*Service, error) {
	s, err := t.loadService(service)
	if err != nil {
		return nil, err
	}
	if s.Status != statusAvailable {
		return nil, invalidState("service %q is %s, not available", service, s.Status)
	}
	if s.Developer == payer {
		return nil, forbidden("a developer cannot %s its own service %q", action, service)
	}
	return s, nil
}

// CallService buys n calls of an available service: the caller pays price × n to the developer and its rights
// grow by n. It writes only keys of the buyer and fresh delta keys, never the service or the developer's
// records, so concurrent buyers of one service do not conflict.
func (c *SmartContract) CallService(ctx contractapi.TransactionContextInterface, service, calls string) (*ServiceCallTime, error) {
	return buyCalls(ctx, service, calls, noPriceLimit)
}

const noPriceLimit = -1

// BuyCalls is CallService with the most the buyer will pay per call: if the developer raised the price since
// the buyer saw it, the purchase is refused (INVALID_STATE) and nothing is paid.
func (c *SmartContract) BuyCalls(ctx contractapi.TransactionContextInterface, service, calls, limit string) (*ServiceCallTime, error) {
	most, err := parseInt("maxPrice", limit, 0, maxPrice)
	if err != nil {
		return nil, err
	}
	return buyCalls(ctx, service, calls, most)
}

func buyCalls(ctx contractapi.TransactionContextInterface, service, calls string, most int64) (*ServiceCallTime, error) {
	if err := validateName("service", service); err != nil {
		return nil, err
	}
	n, err := parseInt("calls", calls, 1, maxCallsPerBuy)
	if err != nil {
		return nil, err
	}
	t, _, buyer, err := beginAsUser(ctx.GetStub())
	if err != nil {
		return nil, err
	}
	s, err := t.serviceToPay(service, buyer.Name, "buy calls on")
	if err != nil {
		return nil, err
	}
	if most != noPriceLimit && s.Price > most {
		return nil, invalidState("service %q costs %d SToken per call now, more than your maxPrice %d", service, s.Price, most)
	}
	cost, err := mulChecked(s.Price, n)
	if err != nil {
		return nil, err
	}
	if err := t.debit(ownerUser, buyer.Name, cost); err != nil {
		return nil, err
	}
	r, _, err := t.loadRights(service, buyer.Name)
	if err != nil {
		return nil, err
	}
	// NP counts each user who paid for calls of a service once: two users buying each other's cheap service
	// over and over (which costs them nothing in the end) cannot inflate their scores.
	newBuyer := int64(0)
	if r.Paid == 0 && cost > 0 {
		newBuyer = 1
	}
	if r.Bought, err = addChecked(r.Bought, n); err != nil {
		return nil, err
	}
	if r.Paid, err = addChecked(r.Paid, cost); err != nil {
		return nil, err
	}
	if r.Remaining, err = addChecked(r.Remaining, n); err != nil {
		return nil, err
	}
	r.VouchersOnly = r.VouchersOnly || s.RequireVouchers
	r.UpdatedAt = t.now
	if err := t.put(r, nsRights, service, buyer.Name); err != nil {
		return nil, err
	}
	rec := BuyRecord{Buyer: buyer.Name, Calls: n, Cost: cost, Price: s.Price, Service: service, Timestamp: t.now, TxID: t.id}
	if err := t.put(rec, nsBuyRecord, service, buyer.Name, t.id); err != nil {
		return nil, err
	}
	paidCalls := int64(0)
	if s.Price > 0 {
		paidCalls = n
	}
	if err := t.credit(ownerUser, s.Developer, Tally{Balance: cost, Buyers: newBuyer, CallsBought: paidCalls}); err != nil {
		return nil, err
	}
	if err := t.credit(ownerService, service, Tally{CallsBought: n}); err != nil {
		return nil, err
	}
	if err := t.emit("CallsBought", rec); err != nil {
		return nil, err
	}
	return r, nil
}

// ReduceCallTime consumes n of a user's calls; only the service's developer or a server it authorized may, and
// only on a service that does not require vouchers.
func (c *SmartContract) ReduceCallTime(ctx contractapi.TransactionContextInterface, service, user, calls string) (*ServiceCallTime, error) {
	if err := validateName("service", service); err != nil {
		return nil, err
	}
	if err := validateName("user", user); err != nil {
		return nil, err
	}
	n, err := parseInt("calls", calls, 1, maxCallsPerBuy)
	if err != nil {
		return nil, err
	}
	t, _, reducer, err := beginAsUser(ctx.GetStub())
	if err != nil {
		return nil, err
	}
	s, err := t.loadService(service)
	if err != nil {
		return nil, err
	}
	if err := t.mayMeter(s, reducer.Name); err != nil {
		return nil, err
	}
	if s.RequireVouchers {
		return nil, forbidden("service %q requires vouchers: its calls are used up by settling them (SettleCalls)", service)
	}
	u, err := t.loadUser(user)
	if err != nil {
		return nil, err
	}
	if u.Status != userActive { // as SettleCalls: a removed user's calls are no longer used up
		return nil, invalidState("user %q was removed", user)
	}
	r, found, err := t.loadRights(service, user)
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, notFound("user %q has no calls on service %q", user, service)
	}
	if r.VouchersOnly {
		return nil, forbidden("user %q bought calls on %q while it required vouchers: they are used up by settling "+
			"them (SettleCalls)", user, service)
	}
	if n > r.Remaining {
		return nil, invalidState("user %q has %d calls left on %q, cannot use %d", user, r.Remaining, service, n)
	}
	if r.Remaining, err = subChecked(r.Remaining, n); err != nil {
		return nil, err
	}
	if r.Used, err = addChecked(r.Used, n); err != nil {
		return nil, err
	}
	r.UpdatedAt = t.now
	if err := t.put(r, nsRights, service, user); err != nil {
		return nil, err
	}
	rec := ReduceRecord{Calls: n, Reducer: reducer.Name, Service: service, Timestamp: t.now, TxID: t.id, User: user}
	if err := t.put(rec, nsReduceRecord, service, user, t.id); err != nil {
		return nil, err
	}
	if err := t.credit(ownerService, service, Tally{CallsUsed: n}); err != nil {
		return nil, err
	}
	if err := t.emit("CallsReduced", rec); err != nil {
		return nil, err
	}
	return r, nil
}

// GetSpecCallTime returns one user's rights on one service (zeros if the user never bought any).
func (c *SmartContract) GetSpecCallTime(ctx contractapi.TransactionContextInterface, service, user string) (*ServiceCallTime, error) {
	if err := validateRightsQuery(service, user); err != nil {
		return nil, err
	}
	t, err := beginQuery(ctx.GetStub())
	if err != nil {
		return nil, err
	}
	return t.rightsOf(service, user)
}

const (
	maxRightsPerRead = 64
	// pairs of valid names, with their quotes, commas and brackets
	maxRightsQueriesLen = 2 + maxRightsPerRead*(2*maxNameLen+8)
)

// RightsAnswer is one answer of GetSpecCallTimes: the rights, or the error GetSpecCallTime returns for them.
type RightsAnswer struct {
	Error  string           `json:"error,omitempty" metadata:",optional"`
	Rights *ServiceCallTime `json:"rights,omitempty" metadata:",optional"`
}

// GetSpecCallTimes answers several GetSpecCallTime calls in one evaluation, in the order asked: queriesJSON is a
// JSON array of [service, user] pairs (1 to maxRightsPerRead). A pair that GetSpecCallTime refuses (an unknown
// name, an invalid one) fails only its own answer. A gateway sends the reads its callers make at the same moment
// as one proposal, so that building, signing and sending it is paid once for all of them.
func (c *SmartContract) GetSpecCallTimes(ctx contractapi.TransactionContextInterface, queriesJSON string) ([]*RightsAnswer, error) {
	if len(queriesJSON) > maxRightsQueriesLen {
		return nil, invalidArg("queries must be at most %d bytes", maxRightsQueriesLen)
	}
	var queries [][]string
	if err := json.Unmarshal([]byte(queriesJSON), &queries); err != nil {
		return nil, invalidArg("queries must be a JSON array of [service, user] pairs: %s", jsonProblem(err))
	}
	if len(queries) == 0 || len(queries) > maxRightsPerRead {
		return nil, invalidArg("queries must hold 1 to %d pairs, got %d", maxRightsPerRead, len(queries))
	}
	for i, q := range queries {
		if len(q) != 2 {
			return nil, invalidArg("query %d must be a [service, user] pair", i)
		}
	}
	t, err := beginQuery(ctx.GetStub())
	if err != nil {
		return nil, err
	}
	out := make([]*RightsAnswer, len(queries))
	reads := batchReads{t: t, services: map[string]error{}, users: map[string]error{}}
	for i, q := range queries {
		r, err := reads.rights(q[0], q[1])
		if code := ErrorCode(err); err != nil && (code == "" || code == CodeInternal) {
			return nil, err // the peer failed, not the query: no answer holds
		}
		if err != nil {
			out[i] = &RightsAnswer{Error: err.Error()}
		} else {
			out[i] = &RightsAnswer{Rights: r}
		}
	}
	return out, nil
}

// rightsOf reads a user's rights on a service, both of which must exist.
func (t *txn) rightsOf(service, user string) (*ServiceCallTime, error) {
	if _, err := t.loadService(service); err != nil {
		return nil, err
	}
	if _, err := t.loadUser(user); err != nil {
		return nil, err
	}
	r, _, err := t.loadRights(service, user)
	return r, err
}

// batchReads answers GetSpecCallTime's queries within one query, reading each service and user record once:
// the pairs of a batch often share a service (the callers of one service's server).
type batchReads struct {
	t        *txn
	services map[string]error // a name read, and the error its load returned (nil: it exists)
	users    map[string]error
}

func (b *batchReads) rights(service, user string) (*ServiceCallTime, error) {
	if err := validateRightsQuery(service, user); err != nil {
		return nil, err
	}
	if err := once(b.services, service, func() error { _, err := b.t.loadService(service); return err }); err != nil {
		return nil, err
	}
	if err := once(b.users, user, func() error { _, err := b.t.loadUser(user); return err }); err != nil {
		return nil, err
	}
	r, _, err := b.t.loadRights(service, user)
	return r, err
}

func once(seen map[string]error, name string, load func() error) error {
	err, ok := seen[name]
	if !ok {
		err = load()
		seen[name] = err
	}
	return err
}

func validateRightsQuery(service, user string) error {
	if err := validateName("service", service); err != nil {
		return err
	}
	return validateName("user", user)
}

// GetCallTimesOfService returns how many calls of a service were bought and used and how often it was composed.
func (c *SmartContract) GetCallTimesOfService(ctx contractapi.TransactionContextInterface, service string) (*ServiceUsage, error) {
	if err := validateName("service", service); err != nil {
		return nil, err
	}
	t, err := beginQuery(ctx.GetStub())
	if err != nil {
		return nil, err
	}
	if _, err := t.loadService(service); err != nil {
		return nil, err
	}
	r, err := t.fullTally(ownerService, service, maxSummedDeltas)
	if err != nil {
		return nil, err
	}
	return &ServiceUsage{
		CallsBought: r.total.CallsBought, CallsUsed: r.total.CallsUsed,
		Compositions: r.total.Compositions, Service: service,
	}, nil
}

// AuthorizeServer lets an active user (the developer's server) decrement rights on one service of the caller.
func (c *SmartContract) AuthorizeServer(ctx contractapi.TransactionContextInterface, service, server string) (*ServerGrant, error) {
	if err := validateName("service", service); err != nil {
		return nil, err
	}
	if err := validateName("server", server); err != nil {
		return nil, err
	}
	t, err := begin(ctx.GetStub())
	if err != nil {
		return nil, err
	}
	dev, _, err := t.ownService(service)
	if err != nil {
		return nil, err
	}
	if server == dev.Name {
		return nil, invalidArg("the developer needs no authorization on its own service")
	}
	su, err := t.loadUser(server)
	if err != nil {
		return nil, err
	}
	if su.Status != userActive {
		return nil, invalidState("user %q was removed", server)
	}
	if ok, err := t.exists(nsServer, service, server); err != nil {
		return nil, err
	} else if ok {
		return nil, alreadyExists("server %q is already authorized on %q", server, service)
	}
	g := &ServerGrant{AuthorizedAt: t.now, Server: server, Service: service}
	if err := t.put(g, nsServer, service, server); err != nil {
		return nil, err
	}
	if err := t.emit("ServerAuthorized", g); err != nil {
		return nil, err
	}
	return g, nil
}

// RevokeServer withdraws a server's authorization on one service of the caller.
func (c *SmartContract) RevokeServer(ctx contractapi.TransactionContextInterface, service, server string) (*ServerGrant, error) {
	if err := validateName("service", service); err != nil {
		return nil, err
	}
	if err := validateName("server", server); err != nil {
		return nil, err
	}
	t, err := begin(ctx.GetStub())
	if err != nil {
		return nil, err
	}
	if _, _, err := t.ownService(service); err != nil {
		return nil, err
	}
	var g ServerGrant
	found, err := t.get(&g, nsServer, service, server)
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, notFound("server %q is not authorized on %q", server, service)
	}
	if err := t.del(nsServer, service, server); err != nil {
		return nil, err
	}
	if err := t.emit("ServerRevoked", g); err != nil {
		return nil, err
	}
	return &g, nil
}

// QueryServerGrant returns a server's authorization on a service, NOT_FOUND when it has none: what a service's
// server checks before it serves metered calls.
func (c *SmartContract) QueryServerGrant(ctx contractapi.TransactionContextInterface, service, server string) (*ServerGrant, error) {
	if err := validateName("service", service); err != nil {
		return nil, err
	}
	if err := validateName("server", server); err != nil {
		return nil, err
	}
	t, err := beginQuery(ctx.GetStub())
	if err != nil {
		return nil, err
	}
	if _, err := t.loadService(service); err != nil {
		return nil, err
	}
	var g ServerGrant
	found, err := t.get(&g, nsServer, service, server)
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, notFound("server %q is not authorized on %q", server, service)
	}
	return &g, nil
}

// RewardService pays amount SToken from the caller to the developer of an available service.
func (c *SmartContract) RewardService(ctx contractapi.TransactionContextInterface, service, amount string) (*RewardReceipt, error) {
	if err := validateName("service", service); err != nil {
		return nil, err
	}
	n, err := parseInt("amount", amount, 1, maxAmount)
	if err != nil {
		return nil, err
	}
	t, _, from, err := beginAsUser(ctx.GetStub())
	if err != nil {
		return nil, err
	}
	s, err := t.serviceToPay(service, from.Name, "reward")
	if err != nil {
		return nil, err
	}
	if err := t.debit(ownerUser, from.Name, n); err != nil {
		return nil, err
	}
	if err := t.credit(ownerUser, s.Developer, Tally{Balance: n}); err != nil {
		return nil, err
	}
	r := &RewardReceipt{Amount: n, Developer: s.Developer, From: from.Name, Service: service, TxID: t.id}
	if err := t.emit("ServiceRewarded", r); err != nil {
		return nil, err
	}
	return r, nil
}
