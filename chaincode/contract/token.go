package contract

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"

	"github.com/hyperledger/fabric-contract-api-go/v2/contractapi"
)

// config is fixed once by Init; only the contribution weights may change afterwards.
type config struct {
	Cap               int64    `json:"cap"`
	FounderName       string   `json:"founderName"`
	FounderOrg        string   `json:"founderOrg,omitempty"` // empty on a ledger initialized before it existed
	FounderShare      int64    `json:"founderShare"`
	GammaMilli        int64    `json:"gammaMilli"`
	GrantHalvingEvery int64    `json:"grantHalvingEvery"`
	GrantShards       int64    `json:"grantShards,omitempty"` // 0 (before shards existed) means 1
	InitialGrant      int64    `json:"initialGrant"`
	LambdaMilli       int64    `json:"lambdaMilli"`
	Maintainers       []string `json:"maintainers"`
	OrgShare          int64    `json:"orgShare"`
}

// pool is the incentive pool, or one grant shard of it: SToken not yet in any account, and how many users it
// has granted.
type pool struct {
	Balance       int64 `json:"balance"`
	Registrations int64 `json:"registrations"`
}

// initArgs is Init's JSON argument.
type initArgs struct {
	Cap               int64    `json:"cap"`
	FounderName       string   `json:"founderName"`
	FounderOrg        string   `json:"founderOrg"`
	FounderShare      int64    `json:"founderShare"`
	Gamma             *string  `json:"gamma"`
	GrantHalvingEvery int64    `json:"grantHalvingEvery"`
	GrantShards       int64    `json:"grantShards"`
	InitialGrant      int64    `json:"initialGrant"`
	Lambda            *string  `json:"lambda"`
	Maintainers       []string `json:"maintainers"`
	OrgShare          int64    `json:"orgShare"`
}

// TokenInfo describes the SToken supply.
type TokenInfo struct {
	Cap               int64    `json:"cap"`
	Circulating       int64    `json:"circulating"`
	FounderName       string   `json:"founderName"`
	GrantHalvingEvery int64    `json:"grantHalvingEvery"`
	GrantShards       int64    `json:"grantShards"`
	InitialGrant      int64    `json:"initialGrant"`
	Maintainers       []string `json:"maintainers"`
	NextGrant         int64    `json:"nextGrant"` // with several shards: the largest of the shards' next grants
	OrgShare          int64    `json:"orgShare"`
	Pool              int64    `json:"pool"`
	Registrations     int64    `json:"registrations"`
}

// Balance is an account's SToken balance.
type Balance struct {
	Account string `json:"account"`
	Balance int64  `json:"balance"`
}

// TransferReceipt describes a completed transfer.
type TransferReceipt struct {
	Amount int64  `json:"amount"`
	From   string `json:"from"`
	To     string `json:"to"`
	TxID   string `json:"txId"`
}

const orgAccountPrefix = "org:"

// parseInitArgs validates Init's configuration; it reads no state.
func parseInitArgs(s string) (*config, error) {
	var a initArgs
	if err := decodeJSON("config", s, &a); err != nil {
		return nil, err
	}
	if err := checkRange("cap", a.Cap, 1, maxAmount); err != nil {
		return nil, err
	}
	if err := validateName("founderName", a.FounderName); err != nil {
		return nil, err
	}
	if err := checkRange("founderShare", a.FounderShare, 0, a.Cap); err != nil {
		return nil, err
	}
	if err := checkRange("orgShare", a.OrgShare, 0, a.Cap); err != nil {
		return nil, err
	}
	if err := checkRange("initialGrant", a.InitialGrant, 0, a.Cap); err != nil {
		return nil, err
	}
	if err := checkRange("grantHalvingEvery", a.GrantHalvingEvery, 0, maxHalvingEvery); err != nil {
		return nil, err
	}
	if err := checkRange("grantShards", a.GrantShards, 0, maxGrantShards); err != nil {
		return nil, err
	}
	if len(a.Maintainers) == 0 || len(a.Maintainers) > maxMaintainers {
		return nil, invalidArg("maintainers must list 1 to %d MSP IDs", maxMaintainers)
	}
	for i, m := range a.Maintainers {
		if err := validateMSPID(m); err != nil {
			return nil, err
		}
		if contains(a.Maintainers[:i], m) {
			return nil, invalidArg("maintainer %q is listed twice", m)
		}
	}
	if !contains(a.Maintainers, a.FounderOrg) {
		return nil, invalidArg("founderOrg must be one of the maintainers")
	}
	genesis := a.FounderShare
	for range a.Maintainers {
		var err error
		if genesis, err = addChecked(genesis, a.OrgShare); err != nil {
			return nil, err
		}
	}
	if genesis > a.Cap {
		return nil, invalidArg("founderShare + orgShare × %d = %d exceeds cap %d", len(a.Maintainers), genesis, a.Cap)
	}
	cfg := &config{
		Cap: a.Cap, FounderName: a.FounderName, FounderOrg: a.FounderOrg, FounderShare: a.FounderShare,
		GrantHalvingEvery: a.GrantHalvingEvery, GrantShards: max(a.GrantShards, 1), InitialGrant: a.InitialGrant,
		Maintainers: a.Maintainers, OrgShare: a.OrgShare,
		LambdaMilli: 2000, GammaMilli: 1000,
	}
	var err error
	if a.Lambda != nil {
		if cfg.LambdaMilli, err = parseWeight("lambda", *a.Lambda); err != nil {
			return nil, err
		}
	}
	if a.Gamma != nil {
		if cfg.GammaMilli, err = parseWeight("gamma", *a.Gamma); err != nil {
			return nil, err
		}
	}
	return cfg, nil
}

func (t *txn) loadConfig() (*config, error) {
	var cfg config
	found, err := t.get(&cfg, nsConfig)
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, invalidState("the chaincode is not initialized; an admin of the founder organization must call Init")
	}
	return &cfg, nil
}

// Init fixes the SToken supply and the maintaining organizations, once. Its argument must be the genesis every
// organization's chaincode server was started with (a peer endorses no other, so no admin chooses the supply or
// the maintainers alone), and the caller an admin of its founder organization; the caller becomes the founder user.
func (c *SmartContract) Init(ctx contractapi.TransactionContextInterface, configJSON string) (*TokenInfo, error) {
	t, err := begin(ctx.GetStub())
	if err != nil {
		return nil, err
	}
	cfg, err := parseInitArgs(configJSON)
	if err != nil {
		return nil, err
	}
	if digest := sha256.Sum256([]byte(configJSON)); hex.EncodeToString(digest[:]) != c.genesis {
		return nil, invalidArg("this is not the genesis this organization agreed to: its chaincode server " +
			"endorses only the Init argument whose SHA-256 it was started with")
	}
	if done, err := t.exists(nsConfig); err != nil {
		return nil, err
	} else if done {
		return nil, alreadyExists("the chaincode is already initialized")
	}
	who, err := t.maintainerAdmin(cfg)
	if err != nil {
		return nil, err
	}
	if who.mspID != cfg.FounderOrg {
		return nil, forbidden("only an admin of the founder organization %s may call Init", cfg.FounderOrg)
	}
	p := pool{Balance: cfg.Cap}
	if p.Balance, err = subChecked(p.Balance, cfg.FounderShare); err != nil {
		return nil, err
	}
	for _, m := range cfg.Maintainers {
		if p.Balance, err = subChecked(p.Balance, cfg.OrgShare); err != nil {
			return nil, err
		}
		if err := t.put(Tally{Balance: cfg.OrgShare}, nsTally, ownerOrg, m); err != nil {
			return nil, err
		}
	}
	if err := t.createUser(who, cfg.FounderName, "founder", cfg.FounderShare); err != nil {
		return nil, err
	}
	if _, _, err := t.recordVoucherKey(who, cfg.FounderName); err != nil { // as RegisterUser: its vouchers settle
		return nil, err
	}
	if err := t.put(cfg, nsConfig); err != nil {
		return nil, err
	}
	shards, err := t.fillPool(cfg, p.Balance)
	if err != nil {
		return nil, err
	}
	info, err := tokenInfo(cfg, shards) // from what was written: a transaction does not read its own writes
	if err != nil {
		return nil, err
	}
	if err := t.emit("Initialized", info); err != nil {
		return nil, err
	}
	return info, nil
}

func tokenInfo(cfg *config, shards []pool) (*TokenInfo, error) {
	p, next, err := wholePool(cfg, shards)
	if err != nil {
		return nil, err
	}
	return &TokenInfo{
		Cap: cfg.Cap, Circulating: cfg.Cap - p.Balance, FounderName: cfg.FounderName,
		GrantHalvingEvery: cfg.GrantHalvingEvery, GrantShards: cfg.shards(), InitialGrant: cfg.InitialGrant,
		Maintainers: cfg.Maintainers, NextGrant: next, OrgShare: cfg.OrgShare,
		Pool: p.Balance, Registrations: p.Registrations,
	}, nil
}

// TokenInfo returns the cap, the pool, the circulating supply and the grant schedule.
func (c *SmartContract) TokenInfo(ctx contractapi.TransactionContextInterface) (*TokenInfo, error) {
	t, err := beginQuery(ctx.GetStub())
	if err != nil {
		return nil, err
	}
	cfg, err := t.loadConfig()
	if err != nil {
		return nil, err
	}
	shards, err := t.loadShards(cfg)
	if err != nil {
		return nil, err
	}
	return tokenInfo(cfg, shards)
}

// parseAccount maps "alice" to a user account and "org:Org1MSP" to an organization account.
func parseAccount(account string) (kind, owner string, err error) {
	if msp, ok := strings.CutPrefix(account, orgAccountPrefix); ok {
		if err := validateMSPID(msp); err != nil {
			return "", "", err
		}
		return ownerOrg, msp, nil
	}
	if err := validateName("account", account); err != nil {
		return "", "", err
	}
	return ownerUser, account, nil
}

// BalanceOf returns the balance of a user ("alice") or of a maintaining organization ("org:Org1MSP").
func (c *SmartContract) BalanceOf(ctx contractapi.TransactionContextInterface, account string) (*Balance, error) {
	kind, owner, err := parseAccount(account)
	if err != nil {
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
	if kind == ownerOrg && !contains(cfg.Maintainers, owner) {
		return nil, notFound("organization %q is not a maintaining organization", owner)
	}
	if kind == ownerUser {
		if _, err := t.loadUser(owner); err != nil {
			return nil, err
		}
	}
	r, err := t.fullTally(kind, owner, maxSummedDeltas)
	if err != nil {
		return nil, err
	}
	return &Balance{Account: account, Balance: r.total.Balance}, nil
}

// Transfer moves amount SToken from the caller's user to another active user.
func (c *SmartContract) Transfer(ctx contractapi.TransactionContextInterface, to, amount string) (*TransferReceipt, error) {
	if err := validateName("to", to); err != nil {
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
	if to == from.Name {
		return nil, invalidArg("cannot transfer to yourself")
	}
	return t.transfer(ownerUser, from.Name, from.Name, to, n)
}

// OrgTransfer moves amount SToken from the caller's organization account to an active user; the caller must
// be an admin of that maintaining organization.
func (c *SmartContract) OrgTransfer(ctx contractapi.TransactionContextInterface, to, amount string) (*TransferReceipt, error) {
	if err := validateName("to", to); err != nil {
		return nil, err
	}
	n, err := parseInt("amount", amount, 1, maxAmount)
	if err != nil {
		return nil, err
	}
	t, _, who, err := beginAsMaintainer(ctx.GetStub())
	if err != nil {
		return nil, err
	}
	return t.transfer(ownerOrg, who.mspID, orgAccountPrefix+who.mspID, to, n)
}

func (t *txn) transfer(fromKind, fromOwner, fromAccount, to string, amount int64) (*TransferReceipt, error) {
	recipient, err := t.loadUser(to)
	if err != nil {
		return nil, err
	}
	if recipient.Status != userActive {
		return nil, invalidState("user %q was removed", to)
	}
	if err := t.debit(fromKind, fromOwner, amount); err != nil {
		return nil, err
	}
	if err := t.credit(ownerUser, to, Tally{Balance: amount}); err != nil {
		return nil, err
	}
	r := &TransferReceipt{Amount: amount, From: fromAccount, To: to, TxID: t.id}
	if err := t.emit("Transferred", r); err != nil {
		return nil, err
	}
	return r, nil
}
