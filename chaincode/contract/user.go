package contract

import (
	"math"

	"github.com/hyperledger/fabric-contract-api-go/v2/contractapi"
)

const (
	userActive  = "active"
	userRemoved = "removed" // the name stays reserved forever
)

// userRecord is the stored user. Balance and the NP/NI counters live in the user's tally, not here, so that
// crediting a developer never rewrites this record.
type userRecord struct {
	AvailableServices int64  `json:"availableServices"` // NT: available services and mashups
	CertID            string `json:"certId"`
	CreatedAt         string `json:"createdAt"`
	Introduction      string `json:"introduction"`
	MSPID             string `json:"mspId"`
	Name              string `json:"name"`
	Status            string `json:"status"`
	UpdatedAt         string `json:"updatedAt"`
}

// User is a user as returned to clients, with balance and contribution folded from the tally.
type User struct {
	Balance      int64        `json:"balance"`
	CertID       string       `json:"certId"`
	Contribution Contribution `json:"contribution"`
	CreatedAt    string       `json:"createdAt"`
	Introduction string       `json:"introduction"`
	MSPID        string       `json:"mspId"`
	Name         string       `json:"name"`
	Status       string       `json:"status"`
	UpdatedAt    string       `json:"updatedAt"`
}

// Contribution is paper eq. 1, ln(NT+1) + λ·NI/NT + γ·NP/NT (0 when NT = 0), with the integer counters it
// was computed from. It is only ever computed on query, never stored. NP and NI count distinct users (per
// service), not purchases and compositions: those two users could repeat among themselves at no cost, since
// each pays the other.
type Contribution struct {
	AvailableServices int64   `json:"availableServices"` // NT
	Buyers            int64   `json:"buyers"`            // NP: distinct users who paid for calls, per service
	CallsBought       int64   `json:"callsBought"`       // paid calls bought, all told
	Composers         int64   `json:"composers"`         // NI: distinct other users who composed it, per service
	Compositions      int64   `json:"compositions"`      // compositions, all told
	GammaMilli        int64   `json:"gammaMilli"`
	LambdaMilli       int64   `json:"lambdaMilli"`
	Value             float64 `json:"value"` // rounded to 6 decimals
}

// Weights are the contribution weights λ and γ in thousandths.
type Weights struct {
	GammaMilli  int64 `json:"gammaMilli"`
	LambdaMilli int64 `json:"lambdaMilli"`
}

// RemovalReceipt describes a removed user.
type RemovalReceipt struct {
	Name                string `json:"name"`
	ReturnedToPool      int64  `json:"returnedToPool"`
	ServersRevoked      int64  `json:"serversRevoked"` // authorizations of servers on its services, withdrawn
	ServicesInvalidated int64  `json:"servicesInvalidated"`
}

func contribution(nt, ni, np, lambdaMilli, gammaMilli int64) float64 {
	if nt <= 0 {
		return 0
	}
	v := math.Log(float64(nt)+1) +
		(float64(lambdaMilli)/1000)*float64(ni)/float64(nt) +
		(float64(gammaMilli)/1000)*float64(np)/float64(nt)
	// Rounding hides last-bit differences between floating-point implementations.
	return math.Round(v*1e6) / 1e6
}

func (t *txn) loadUser(name string) (*userRecord, error) {
	var u userRecord
	found, err := t.get(&u, nsUser, name)
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, notFound("user %q does not exist", name)
	}
	return &u, nil
}

// createUser binds a new name to the caller's identity and opens its account with balance SToken.
func (t *txn) createUser(who caller, name, introduction string, balance int64) error {
	if bound, err := t.get(&identityBinding{}, nsIdentity, who.mspID, who.enrollment); err != nil {
		return err
	} else if bound {
		return alreadyExists("this enrollment already registered a user; one user per enrollment, whatever its certificate")
	}
	if taken, err := t.exists(nsUser, name); err != nil {
		return err
	} else if taken {
		return alreadyExists("user name %q is taken", name)
	}
	if err := t.claimName(nameOfUser, name); err != nil {
		return err
	}
	u := userRecord{
		CertID: who.certID, CreatedAt: t.now, Introduction: introduction, MSPID: who.mspID,
		Name: name, Status: userActive, UpdatedAt: t.now,
	}
	if err := t.put(u, nsUser, name); err != nil {
		return err
	}
	if err := t.put(identityBinding{User: name}, nsIdentity, who.mspID, who.enrollment); err != nil {
		return err
	}
	return t.put(Tally{Balance: balance}, nsTally, ownerUser, name)
}

func (t *txn) userView(u *userRecord, cfg *config) (*User, error) {
	r, err := t.fullTally(ownerUser, u.Name, maxSummedDeltas)
	if err != nil {
		return nil, err
	}
	return &User{
		Balance: r.total.Balance, CertID: u.CertID,
		Contribution: Contribution{
			AvailableServices: u.AvailableServices, Buyers: r.total.Buyers, CallsBought: r.total.CallsBought,
			Composers: r.total.Composers, Compositions: r.total.Compositions,
			GammaMilli: cfg.GammaMilli, LambdaMilli: cfg.LambdaMilli,
			Value: contribution(u.AvailableServices, r.total.Composers, r.total.Buyers,
				cfg.LambdaMilli, cfg.GammaMilli),
		},
		CreatedAt: u.CreatedAt, Introduction: u.Introduction, MSPID: u.MSPID, Name: u.Name,
		Status: u.Status, UpdatedAt: u.UpdatedAt,
	}, nil
}

// RegisterUser binds name to the caller's identity and grants SToken from the incentive pool.
func (c *SmartContract) RegisterUser(ctx contractapi.TransactionContextInterface, name, introduction string) (*User, error) {
	if err := validateName("name", name); err != nil {
		return nil, err
	}
	if err := validateText("introduction", introduction, maxTextLen, false); err != nil {
		return nil, err
	}
	t, err := begin(ctx.GetStub())
	if err != nil {
		return nil, err
	}
	who, err := t.identify()
	if err != nil {
		return nil, err
	}
	cfg, err := t.loadConfig()
	if err != nil {
		return nil, err
	}
	shard := shardOf(cfg, name)
	p, err := t.loadShard(cfg, shard)
	if err != nil {
		return nil, err
	}
	grant := grantFor(cfg, p)
	if p.Balance, err = subChecked(p.Balance, grant); err != nil {
		return nil, err
	}
	if p.Registrations, err = addChecked(p.Registrations, 1); err != nil {
		return nil, err
	}
	if err := t.createUser(who, name, introduction, grant); err != nil {
		return nil, err
	}
	if _, _, err := t.recordVoucherKey(who, name); err != nil {
		return nil, err
	}
	if err := t.putShard(cfg, shard, p); err != nil {
		return nil, err
	}
	if err := t.emit("UserRegistered", struct {
		Grant int64  `json:"grant"`
		MSPID string `json:"mspId"`
		Name  string `json:"name"`
	}{grant, who.mspID, name}); err != nil {
		return nil, err
	}
	u := &User{
		Balance: grant, CertID: who.certID,
		Contribution: Contribution{GammaMilli: cfg.GammaMilli, LambdaMilli: cfg.LambdaMilli},
		CreatedAt:    t.now, Introduction: introduction, MSPID: who.mspID, Name: name,
		Status: userActive, UpdatedAt: t.now,
	}
	return u, nil
}

// RemoveUser removes the caller's own user: its services become invalid and lose the servers it authorized, its
// SToken return to the incentive pool, and its name and identity stay reserved.
func (c *SmartContract) RemoveUser(ctx contractapi.TransactionContextInterface, name string) (*RemovalReceipt, error) {
	if err := validateName("name", name); err != nil {
		return nil, err
	}
	t, _, u, err := beginAsUser(ctx.GetStub())
	if err != nil {
		return nil, err
	}
	if u.Name != name {
		if _, err := t.loadUser(name); err != nil {
			return nil, err
		}
		return nil, forbidden("only user %q may remove itself", name)
	}
	invalidated, revoked, err := t.retireAllServices(name)
	if err != nil {
		return nil, err
	}
	account, err := t.fullTally(ownerUser, name, maxFoldedDeltas) // it deletes them
	if err != nil {
		return nil, err
	}
	refund := account.total.Balance
	account.total.Balance = 0 // the counters stay for the record
	if err := t.put(account.total, nsTally, ownerUser, name); err != nil {
		return nil, err
	}
	for _, k := range account.deltaKeys {
		if err := t.delKey(k); err != nil {
			return nil, err
		}
	}
	cfg, err := t.loadConfig()
	if err != nil {
		return nil, err
	}
	shard := shardOf(cfg, name)
	p, err := t.loadShard(cfg, shard)
	if err != nil {
		return nil, err
	}
	if p.Balance, err = addChecked(p.Balance, refund); err != nil {
		return nil, err
	}
	if err := t.putShard(cfg, shard, p); err != nil {
		return nil, err
	}
	u.Status, u.AvailableServices, u.UpdatedAt = userRemoved, 0, t.now
	if err := t.put(u, nsUser, name); err != nil {
		return nil, err
	}
	r := &RemovalReceipt{Name: name, ReturnedToPool: refund, ServersRevoked: revoked, ServicesInvalidated: invalidated}
	if err := t.emit("UserRemoved", r); err != nil {
		return nil, err
	}
	return r, nil
}

// QueryUser returns a user with its balance and contribution.
func (c *SmartContract) QueryUser(ctx contractapi.TransactionContextInterface, name string) (*User, error) {
	if err := validateName("name", name); err != nil {
		return nil, err
	}
	t, err := beginQuery(ctx.GetStub())
	if err != nil {
		return nil, err
	}
	cfg, err := t.loadConfig()
	if err != nil {
		return nil, err
	}
	u, err := t.loadUser(name)
	if err != nil {
		return nil, err
	}
	return t.userView(u, cfg)
}

// WhoAmI is the user the calling identity acts as, whichever certificate of its enrollment it presents
// (UNAUTHENTICATED when the enrollment registered no user; a removed user is returned with its status).
func (c *SmartContract) WhoAmI(ctx contractapi.TransactionContextInterface) (*User, error) {
	t, err := beginQuery(ctx.GetStub())
	if err != nil {
		return nil, err
	}
	cfg, err := t.loadConfig()
	if err != nil {
		return nil, err
	}
	_, u, err := t.boundUser()
	if err != nil {
		return nil, err
	}
	return t.userView(u, cfg)
}

// SetContributionWeights changes λ and γ (decimals with up to 3 fractional digits, e.g. "2" and "0.5").
func (c *SmartContract) SetContributionWeights(ctx contractapi.TransactionContextInterface, lambda, gamma string) (*Weights, error) {
	l, err := parseWeight("lambda", lambda)
	if err != nil {
		return nil, err
	}
	g, err := parseWeight("gamma", gamma)
	if err != nil {
		return nil, err
	}
	t, cfg, _, err := beginAsMaintainer(ctx.GetStub())
	if err != nil {
		return nil, err
	}
	cfg.LambdaMilli, cfg.GammaMilli = l, g
	if err := t.put(cfg, nsConfig); err != nil {
		return nil, err
	}
	w := &Weights{GammaMilli: g, LambdaMilli: l}
	if err := t.emit("ContributionWeightsChanged", w); err != nil {
		return nil, err
	}
	return w, nil
}

// CompactAccount folds the delta records of the caller's account into its base record.
func (c *SmartContract) CompactAccount(ctx contractapi.TransactionContextInterface) (*Compaction, error) {
	t, _, u, err := beginAsUser(ctx.GetStub())
	if err != nil {
		return nil, err
	}
	folded, err := t.compact(ownerUser, u.Name)
	if err != nil {
		return nil, err
	}
	r := &Compaction{Deltas: int64(len(folded.deltaKeys)), More: !folded.complete, Owner: u.Name}
	if err := t.emit("AccountCompacted", r); err != nil {
		return nil, err
	}
	return r, nil
}

// Compaction reports how many delta records were folded.
type Compaction struct {
	Deltas int64  `json:"deltas"`
	More   bool   `json:"more"` // more deltas wait: compact again
	Owner  string `json:"owner"`
}
