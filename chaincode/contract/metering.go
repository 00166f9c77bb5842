package contract

import (
	"github.com/hyperledger/fabric-contract-api-go/v2/contractapi"
)

// SettleCalls records on chain the calls a service's server served against users' vouchers (voucher.go): for
// each user, its used calls become the highest count among its vouchers that holds, if that is more than before.
// Only the service's developer or a server it authorized may settle. A malformed argument or a voucher for
// another service refuses the whole settlement; a well-formed voucher that does not hold against the ledger
// (bad signature, removed user, more calls than bought) is listed in Rejected and changes nothing.
// Settlements of different users touch different keys, so they never conflict with each other.
func (c *SmartContract) SettleCalls(ctx contractapi.TransactionContextInterface, service, vouchersJSON string) (*Settlement, error) {
	if err := validateName("service", service); err != nil {
		return nil, err
	}
	vs, err := parseSettlement(service, vouchersJSON)
	if err != nil {
		return nil, err
	}
	t, _, settler, err := beginAsUser(ctx.GetStub())
	if err != nil {
		return nil, err
	}
	s, err := t.loadService(service)
	if err != nil {
		return nil, err
	}
	if err := t.mayMeter(s, settler.Name); err != nil {
		return nil, err
	}
	out := &Settlement{Rejected: []RejectedVoucher{}, Service: service, Settled: []SettledRights{},
		Settler: settler.Name, TxID: t.id}
	users, byUser := groupByUser(vs)
	total := int64(0)
	for _, user := range users {
		indexes := byUser[user]
		group := make([]*voucher, len(indexes))
		for i, j := range indexes {
			group[i] = vs[j]
		}
		settled, rejected, err := t.settleUser(service, user, group, indexes)
		if err != nil {
			return nil, err
		}
		out.Rejected = append(out.Rejected, rejected...)
		if settled == nil {
			continue
		}
		out.Settled = append(out.Settled, *settled)
		if total, err = addChecked(total, settled.Calls); err != nil {
			return nil, err
		}
		rec := SettleRecord{Calls: settled.Calls, Service: service, Settler: settler.Name, Timestamp: t.now,
			TxID: t.id, Used: settled.Used, User: user}
		if err := t.put(rec, nsSettleRecord, service, user, t.id); err != nil {
			return nil, err
		}
	}
	if total > 0 {
		if err := t.credit(ownerService, service, Tally{CallsUsed: total}); err != nil {
			return nil, err
		}
	}
	if err := t.emit("CallsSettled", out); err != nil {
		return nil, err
	}
	return out, nil
}

// UpdateVoucherKey makes the key of the caller's current certificate (after re-enrolling with a new key) the
// newest key of its user's vouchers; the three before it stay valid for vouchers signed before (voucherKeysKept).
func (c *SmartContract) UpdateVoucherKey(ctx contractapi.TransactionContextInterface) (*VoucherKeys, error) {
	t, who, u, err := beginAsUser(ctx.GetStub())
	if err != nil {
		return nil, err
	}
	key := voucherKey(who)
	if key == "" {
		return nil, invalidArg("the caller's certificate key is not ECDSA P-256, so it cannot sign vouchers")
	}
	r, changed, err := t.recordVoucherKey(who, u.Name)
	if err != nil {
		return nil, err
	}
	if changed {
		if err := t.emit("VoucherKeyUpdated", struct {
			Key  string `json:"key"`
			User string `json:"user"`
		}{key, u.Name}); err != nil {
			return nil, err
		}
	}
	return voucherKeysOf(u, r), nil
}

// QueryVoucherKeys returns the keys a user's vouchers may be signed with, and whether the user is active.
func (c *SmartContract) QueryVoucherKeys(ctx contractapi.TransactionContextInterface, user string) (*VoucherKeys, error) {
	if err := validateName("user", user); err != nil {
		return nil, err
	}
	t, err := beginQuery(ctx.GetStub())
	if err != nil {
		return nil, err
	}
	u, err := t.loadUser(user)
	if err != nil {
		return nil, err
	}
	r, err := t.loadVoucherKeys(u.Name)
	if err != nil {
		return nil, err
	}
	return voucherKeysOf(u, r), nil
}

func voucherKeysOf(u *userRecord, r *voucherKeyRecord) *VoucherKeys {
	keys := r.Keys
	if keys == nil {
		keys = []string{}
	}
	return &VoucherKeys{Keys: keys, Status: u.Status, UpdatedAt: r.UpdatedAt, User: u.Name}
}
