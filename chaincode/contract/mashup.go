package contract

import (
	"github.com/hyperledger/fabric-contract-api-go/v2/contractapi"
)

// mashupSpec is CreateMashup's JSON argument: a service spec plus the names of its components.
type mashupSpec struct {
	Category        string   `json:"category"`
	Components      []string `json:"components"`
	Description     string   `json:"description"`
	MaxPaid         *int64   `json:"maxPaid"` // the most the creator pays for the components; refused if more now
	Name            string   `json:"name"`
	Price           *int64   `json:"price"`
	QoS             *QoS     `json:"qos"`
	RequireVouchers bool     `json:"requireVouchers"`
	URL             string   `json:"url"`
}

func parseMashupSpec(s string) (*mashupSpec, error) {
	var m mashupSpec
	if err := decodeJSON("mashup", s, &m); err != nil {
		return nil, err
	}
	base := serviceSpec{Category: m.Category, Description: m.Description, Name: m.Name, Price: m.Price, QoS: m.QoS, URL: m.URL}
	if err := base.validate(); err != nil {
		return nil, err
	}
	if m.MaxPaid != nil {
		if err := checkRange("maxPaid", *m.MaxPaid, 0, maxAmount); err != nil {
			return nil, err
		}
	}
	if len(m.Components) == 0 || len(m.Components) > maxComponents {
		return nil, invalidArg("a mashup needs 1 to %d components, got %d", maxComponents, len(m.Components))
	}
	for i, c := range m.Components {
		if err := validateName("component", c); err != nil {
			return nil, err
		}
		if c == m.Name {
			return nil, invalidArg("mashup %q cannot be its own component", m.Name)
		}
		if contains(m.Components[:i], c) {
			return nil, invalidArg("component %q is listed twice", c)
		}
	}
	return &m, nil
}

// MashupReceipt is the created mashup and what its creator paid.
type MashupReceipt struct {
	Mashup Service `json:"mashup"`
	Paid   int64   `json:"paid"`
}

// ComponentPayment is what a mashup's creator paid one component's developer (its price then), in the
// MashupCreated event: the developer's revenue from compositions.
type ComponentPayment struct {
	Amount    int64  `json:"amount"`
	Developer string `json:"developer"`
	Service   string `json:"service"`
}

// CreateMashup composes available services into a new mashup of the caller (status created). The caller pays
// each component's price to its developer (paper §3.7.4), and each such developer's NI grows by one.
// Composing one's own service is free and does not count towards one's own NI.
func (c *SmartContract) CreateMashup(ctx contractapi.TransactionContextInterface, mashupJSON string) (*MashupReceipt, error) {
	spec, err := parseMashupSpec(mashupJSON)
	if err != nil {
		return nil, err
	}
	t, _, u, err := beginAsUser(ctx.GetStub())
	if err != nil {
		return nil, err
	}
	if taken, err := t.exists(nsService, spec.Name); err != nil {
		return nil, err
	} else if taken {
		return nil, alreadyExists("service %q already exists", spec.Name)
	}
	components := make([]*Service, 0, len(spec.Components))
	var total int64
	for _, name := range spec.Components {
		s, err := t.loadService(name)
		if err != nil {
			return nil, err
		}
		if s.Status != statusAvailable {
			return nil, invalidState("component %q is %s, not available", name, s.Status)
		}
		if s.Developer != u.Name {
			if total, err = addChecked(total, s.Price); err != nil {
				return nil, err
			}
		}
		components = append(components, s)
	}
	if spec.MaxPaid != nil && total > *spec.MaxPaid {
		return nil, invalidState("the components cost %d SToken now, more than your maxPaid %d", total, *spec.MaxPaid)
	}
	if err := t.debit(ownerUser, u.Name, total); err != nil {
		return nil, err
	}
	payments := []ComponentPayment{}
	for _, s := range components {
		if s.Developer == u.Name {
			continue
		}
		payments = append(payments, ComponentPayment{Amount: s.Price, Developer: s.Developer, Service: s.Name})
		// NI counts each other user who composed a service once (see NP in buyCalls).
		newComposer := int64(0)
		if composed, err := t.exists(nsComposer, s.Name, u.Name); err != nil {
			return nil, err
		} else if !composed {
			newComposer = 1
			if err := t.putMarker(nsComposer, s.Name, u.Name); err != nil {
				return nil, err
			}
		}
		if err := t.credit(ownerUser, s.Developer, Tally{Balance: s.Price, Composers: newComposer, Compositions: 1}); err != nil {
			return nil, err
		}
		if err := t.credit(ownerService, s.Name, Tally{Compositions: 1}); err != nil {
			return nil, err
		}
	}
	m := &Service{
		Category: spec.Category, Components: spec.Components, CreatedAt: t.now, Description: spec.Description,
		Developer: u.Name, Mashup: true, Name: spec.Name, Price: *spec.Price, RequireVouchers: spec.RequireVouchers,
		Status: statusCreated, UpdatedAt: t.now, URL: spec.URL,
	}
	if spec.QoS != nil {
		m.QoS = *spec.QoS
	}
	if err := t.createService(m); err != nil {
		return nil, err
	}
	if err := t.emit("MashupCreated", struct {
		Components []string           `json:"components"`
		Developer  string             `json:"developer"`
		Paid       int64              `json:"paid"`
		Payments   []ComponentPayment `json:"payments"`
		Service    string             `json:"service"`
	}{m.Components, m.Developer, total, payments, m.Name}); err != nil {
		return nil, err
	}
	return &MashupReceipt{Mashup: *m, Paid: total}, nil
}
