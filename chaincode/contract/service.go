package contract

import (
	"fmt"

	"github.com/hyperledger/fabric-contract-api-go/v2/contractapi"
)

// Service lifecycle (paper figure 9): created → available → invalid. The developer may republish an invalid
// service: invalidation is a withdrawal, not a deletion, and the name stays the developer's.
const (
	statusCreated   = "created"
	statusAvailable = "available"
	statusInvalid   = "invalid"
)

// QoS holds a service's advertised quality: expected latency and availability in basis points (10000 = 100 %).
type QoS struct {
	AvailabilityBp int64 `json:"availabilityBp"`
	LatencyMs      int64 `json:"latencyMs"`
}

// Service is a service or a mashup; it is stored once and every index points to it by name.
type Service struct {
	Category    string   `json:"category"`
	Components  []string `json:"components"`
	CreatedAt   string   `json:"createdAt"`
	Description string   `json:"description"`
	Developer   string   `json:"developer"`
	Mashup      bool     `json:"mashup"`
	Name        string   `json:"name"`
	Price       int64    `json:"price"`
	QoS         QoS      `json:"qos"`
	// RequireVouchers: calls are only used up by settling the users' vouchers (SettleCalls), never by the
	// developer's word alone (ReduceCallTime). Off by default: the paper's flow, and services on older ledgers.
	RequireVouchers bool   `json:"requireVouchers"`
	Status          string `json:"status"`
	UpdatedAt       string `json:"updatedAt"`
	URL             string `json:"url"`
}

// serviceSpec is RegisterService's JSON argument.
type serviceSpec struct {
	Category        string `json:"category"`
	Description     string `json:"description"`
	Name            string `json:"name"`
	Price           *int64 `json:"price"`
	QoS             *QoS   `json:"qos"`
	RequireVouchers bool   `json:"requireVouchers"`
	URL             string `json:"url"`
}

// servicePatch is EditService's JSON argument: only the fields present change.
type servicePatch struct {
	Category        *string   `json:"category"`
	Description     *string   `json:"description"`
	Price           *int64    `json:"price"`
	QoS             *qosPatch `json:"qos"`
	RequireVouchers *bool     `json:"requireVouchers"`
	URL             *string   `json:"url"`
}

// qosPatch is a patch's qos: here too only the fields present change.
type qosPatch struct {
	AvailabilityBp *int64 `json:"availabilityBp"`
	LatencyMs      *int64 `json:"latencyMs"`
}

func (q *qosPatch) validate() error {
	if q.AvailabilityBp == nil && q.LatencyMs == nil {
		return invalidArg("qos patch changes nothing")
	}
	var given QoS // the fields left out are 0, always within bounds
	q.apply(&given)
	return validateQoS(&given)
}

func (q *qosPatch) apply(to *QoS) {
	if q.AvailabilityBp != nil {
		to.AvailabilityBp = *q.AvailabilityBp
	}
	if q.LatencyMs != nil {
		to.LatencyMs = *q.LatencyMs
	}
}

func validatePrice(p *int64) error {
	if p == nil {
		return invalidArg("price is required")
	}
	return checkRange("price", *p, 0, maxPrice)
}

func validateQoS(q *QoS) error {
	if q == nil {
		return nil
	}
	if err := checkRange("qos.latencyMs", q.LatencyMs, 0, maxLatencyMs); err != nil {
		return err
	}
	return checkRange("qos.availabilityBp", q.AvailabilityBp, 0, maxAvailabilityBp)
}

func (s *serviceSpec) validate() error {
	if err := validateName("name", s.Name); err != nil {
		return err
	}
	if err := validateText("category", s.Category, maxCategoryLen, true); err != nil {
		return err
	}
	if err := validateText("description", s.Description, maxTextLen, false); err != nil {
		return err
	}
	if err := validateURL(s.URL); err != nil {
		return err
	}
	if err := validatePrice(s.Price); err != nil {
		return err
	}
	return validateQoS(s.QoS)
}

func parseServiceSpec(s string) (*serviceSpec, error) {
	var spec serviceSpec
	if err := decodeJSON("service", s, &spec); err != nil {
		return nil, err
	}
	if err := spec.validate(); err != nil {
		return nil, err
	}
	return &spec, nil
}

func parseServicePatch(s string) (*servicePatch, error) {
	var p servicePatch
	if err := decodeJSON("patch", s, &p); err != nil {
		return nil, err
	}
	if p.Category == nil && p.Description == nil && p.Price == nil && p.QoS == nil && p.URL == nil &&
		p.RequireVouchers == nil {
		return nil, invalidArg("patch changes nothing")
	}
	if p.Category != nil {
		if err := validateText("category", *p.Category, maxCategoryLen, true); err != nil {
			return nil, err
		}
	}
	if p.Description != nil {
		if err := validateText("description", *p.Description, maxTextLen, false); err != nil {
			return nil, err
		}
	}
	if p.URL != nil {
		if err := validateURL(*p.URL); err != nil {
			return nil, err
		}
	}
	if p.Price != nil {
		if err := validatePrice(p.Price); err != nil {
			return nil, err
		}
	}
	if p.QoS != nil {
		if err := p.QoS.validate(); err != nil {
			return nil, err
		}
	}
	return &p, nil
}

func (t *txn) loadService(name string) (*Service, error) {
	var s Service
	found, err := t.get(&s, nsService, name)
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, notFound("service %q does not exist", name)
	}
	if s.Components == nil {
		s.Components = []string{}
	}
	return &s, nil
}

// ownService loads a service the caller develops.
func (t *txn) ownService(name string) (*userRecord, *Service, error) {
	_, u, err := t.actingUser()
	if err != nil {
		return nil, nil, err
	}
	s, err := t.loadService(name)
	if err != nil {
		return nil, nil, err
	}
	if s.Developer != u.Name {
		return nil, nil, forbidden("only the developer of service %q may do this", name)
	}
	return u, s, nil
}

// createService stores a new service with its two indexes.
func (t *txn) createService(s *Service) error {
	if taken, err := t.exists(nsService, s.Name); err != nil {
		return err
	} else if taken {
		return alreadyExists("service %q already exists", s.Name)
	}
	if err := t.claimName(nameOfService, s.Name); err != nil {
		return err
	}
	if err := t.put(s, nsService, s.Name); err != nil {
		return err
	}
	if err := t.putMarker(nsByDeveloper, s.Developer, s.Name); err != nil {
		return err
	}
	return t.putMarker(nsByStatus, s.Status, s.Name)
}

// moveStatus moves a service to a new status and keeps the status index in step.
func (t *txn) moveStatus(s *Service, to string) error {
	if err := t.del(nsByStatus, s.Status, s.Name); err != nil {
		return err
	}
	if err := t.putMarker(nsByStatus, to, s.Name); err != nil {
		return err
	}
	s.Status, s.UpdatedAt = to, t.now
	return t.put(s, nsService, s.Name)
}

// countAvailable keeps the developer's NT (available services and mashups) in step with a status change.
func countAvailable(dev *userRecord, from, to string) error {
	nt := dev.AvailableServices
	var err error
	switch {
	case to == statusAvailable:
		nt, err = addChecked(nt, 1)
	case from == statusAvailable:
		nt, err = subChecked(nt, 1)
	}
	if err != nil {
		return err
	}
	if nt < 0 {
		return internal("counting available services", fmt.Errorf("NT of %q would be negative", dev.Name))
	}
	dev.AvailableServices = nt
	return nil
}

// retireAllServices is a removed developer's part: every service of it becomes invalid and loses the servers it
// authorized, so that none of them meters its buyers' rights any more. It returns how many services it
// invalidated and how many authorizations it withdrew.
func (t *txn) retireAllServices(developer string) (invalidated, revoked int64, err error) {
	names, err := t.partialKeyAttrs(nsByDeveloper, developer)
	if err != nil {
		return 0, 0, err
	}
	for _, name := range names {
		s, err := t.loadService(name)
		if err != nil {
			return 0, 0, err
		}
		if s.Status != statusInvalid {
			if err := t.moveStatus(s, statusInvalid); err != nil {
				return 0, 0, err
			}
			invalidated++
		}
		servers, err := t.partialKeyAttrs(nsServer, name)
		if err != nil {
			return 0, 0, err
		}
		for _, server := range servers {
			if err := t.del(nsServer, name, server); err != nil {
				return 0, 0, err
			}
			revoked++
		}
	}
	return invalidated, revoked, nil
}

// RegisterService registers a service of the caller in status created.
func (c *SmartContract) RegisterService(ctx contractapi.TransactionContextInterface, serviceJSON string) (*Service, error) {
	spec, err := parseServiceSpec(serviceJSON)
	if err != nil {
		return nil, err
	}
	t, _, u, err := beginAsUser(ctx.GetStub())
	if err != nil {
		return nil, err
	}
	s := &Service{
		Category: spec.Category, Components: []string{}, CreatedAt: t.now, Description: spec.Description,
		Developer: u.Name, Name: spec.Name, Price: *spec.Price, RequireVouchers: spec.RequireVouchers,
		Status: statusCreated, UpdatedAt: t.now, URL: spec.URL,
	}
	if spec.QoS != nil {
		s.QoS = *spec.QoS
	}
	if err := t.createService(s); err != nil {
		return nil, err
	}
	if err := t.emit("ServiceRegistered", serviceEvent{Developer: s.Developer, Service: s.Name, Status: s.Status}); err != nil {
		return nil, err
	}
	return s, nil
}

type serviceEvent struct {
	Developer string `json:"developer"`
	Service   string `json:"service"`
	Status    string `json:"status"`
}

// PublishService makes a created or invalid service of the caller available.
func (c *SmartContract) PublishService(ctx contractapi.TransactionContextInterface, name string) (*Service, error) {
	return c.changeStatus(ctx, name, statusAvailable, "ServicePublished")
}

// InvalidateService makes a created or available service of the caller invalid.
func (c *SmartContract) InvalidateService(ctx contractapi.TransactionContextInterface, name string) (*Service, error) {
	return c.changeStatus(ctx, name, statusInvalid, "ServiceInvalidated")
}

func (c *SmartContract) changeStatus(ctx contractapi.TransactionContextInterface, name, to, event string) (*Service, error) {
	if err := validateName("service", name); err != nil {
		return nil, err
	}
	t, err := begin(ctx.GetStub())
	if err != nil {
		return nil, err
	}
	dev, s, err := t.ownService(name)
	if err != nil {
		return nil, err
	}
	if s.Status == to {
		return nil, invalidState("service %q is already %s", name, to)
	}
	from := s.Status
	if err := t.moveStatus(s, to); err != nil {
		return nil, err
	}
	if err := countAvailable(dev, from, to); err != nil {
		return nil, err
	}
	dev.UpdatedAt = t.now
	if err := t.put(dev, nsUser, dev.Name); err != nil {
		return nil, err
	}
	if err := t.emit(event, serviceEvent{Developer: s.Developer, Service: s.Name, Status: s.Status}); err != nil {
		return nil, err
	}
	return s, nil
}

// EditService changes the descriptive fields and the price of a service of the caller.
func (c *SmartContract) EditService(ctx contractapi.TransactionContextInterface, name, patchJSON string) (*Service, error) {
	if err := validateName("service", name); err != nil {
		return nil, err
	}
	p, err := parseServicePatch(patchJSON)
	if err != nil {
		return nil, err
	}
	t, err := begin(ctx.GetStub())
	if err != nil {
		return nil, err
	}
	_, s, err := t.ownService(name)
	if err != nil {
		return nil, err
	}
	changed := []string{}
	if p.Category != nil {
		s.Category, changed = *p.Category, append(changed, "category")
	}
	if p.Description != nil {
		s.Description, changed = *p.Description, append(changed, "description")
	}
	if p.Price != nil {
		s.Price, changed = *p.Price, append(changed, "price")
	}
	if p.QoS != nil {
		p.QoS.apply(&s.QoS)
		changed = append(changed, "qos")
	}
	if p.RequireVouchers != nil {
		s.RequireVouchers, changed = *p.RequireVouchers, append(changed, "requireVouchers")
	}
	if p.URL != nil {
		s.URL, changed = *p.URL, append(changed, "url")
	}
	s.UpdatedAt = t.now
	if err := t.put(s, nsService, s.Name); err != nil {
		return nil, err
	}
	if err := t.emit("ServiceEdited", struct {
		Changed []string `json:"changed"`
		Service string   `json:"service"`
	}{changed, s.Name}); err != nil {
		return nil, err
	}
	return s, nil
}

// QueryService returns one service.
func (c *SmartContract) QueryService(ctx contractapi.TransactionContextInterface, name string) (*Service, error) {
	if err := validateName("service", name); err != nil {
		return nil, err
	}
	t, err := beginQuery(ctx.GetStub())
	if err != nil {
		return nil, err
	}
	return t.loadService(name)
}

// CompactService folds the delta records of a service's counters; only its developer may do it.
func (c *SmartContract) CompactService(ctx contractapi.TransactionContextInterface, name string) (*Compaction, error) {
	if err := validateName("service", name); err != nil {
		return nil, err
	}
	t, err := begin(ctx.GetStub())
	if err != nil {
		return nil, err
	}
	if _, _, err := t.ownService(name); err != nil {
		return nil, err
	}
	folded, err := t.compact(ownerService, name)
	if err != nil {
		return nil, err
	}
	r := &Compaction{Deltas: int64(len(folded.deltaKeys)), More: !folded.complete, Owner: name}
	if err := t.emit("ServiceCompacted", r); err != nil {
		return nil, err
	}
	return r, nil
}
