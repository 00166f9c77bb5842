package contract

import (
	"github.com/hyperledger/fabric-contract-api-go/v2/contractapi"
)

// ServicePage is one page of services; pass Bookmark back to get the next page ("" when there is none).
type ServicePage struct {
	Bookmark string    `json:"bookmark"`
	Records  []Service `json:"records"`
}

// pageNames reads up to size names from an index whose last attribute is the service name, starting at the
// name from (inclusive) and stopping before end (exclusive, "" = no end). It asks the peer for one extra entry
// to learn the next bookmark, so a page costs the same however many services exist.
func (t *txn) pageNames(ns string, prefix []string, from, end string, size int32) ([]string, string, error) {
	bookmark := ""
	if from != "" {
		k, err := t.key(ns, append(append([]string{}, prefix...), from)...)
		if err != nil {
			return nil, "", err
		}
		bookmark = k
	}
	it, _, err := t.stub.GetStateByPartialCompositeKeyWithPagination(ns, prefix, size+1, bookmark)
	if err != nil {
		return nil, "", internal("querying index", err)
	}
	defer it.Close()
	names := []string{}
	for it.HasNext() {
		kv, err := it.Next()
		if err != nil {
			return nil, "", internal("iterating index", err)
		}
		_, attrs, err := t.stub.SplitCompositeKey(kv.Key)
		if err != nil || len(attrs) != len(prefix)+1 {
			return nil, "", internal("splitting index key", err)
		}
		name := attrs[len(prefix)]
		if end != "" && name >= end {
			break
		}
		if int32(len(names)) == size {
			return names, name, nil
		}
		names = append(names, name)
	}
	return names, "", nil
}

func (t *txn) servicePage(names []string, next string) (*ServicePage, error) {
	page := &ServicePage{Bookmark: next, Records: make([]Service, 0, len(names))}
	for _, n := range names {
		s, err := t.loadService(n)
		if err != nil {
			return nil, err
		}
		page.Records = append(page.Records, *s)
	}
	return page, nil
}

func validateBookmark(bookmark string) error {
	if bookmark == "" {
		return nil
	}
	return validateName("bookmark", bookmark)
}

// QueryServiceByUser pages through the services and mashups developed by a user, in name order.
func (c *SmartContract) QueryServiceByUser(ctx contractapi.TransactionContextInterface, user, pageSize, bookmark string) (*ServicePage, error) {
	if err := validateName("user", user); err != nil {
		return nil, err
	}
	size, err := parsePageSize(pageSize)
	if err != nil {
		return nil, err
	}
	if err := validateBookmark(bookmark); err != nil {
		return nil, err
	}
	t, err := beginQuery(ctx.GetStub())
	if err != nil {
		return nil, err
	}
	if _, err := t.loadUser(user); err != nil {
		return nil, err
	}
	names, next, err := t.pageNames(nsByDeveloper, []string{user}, bookmark, "", size)
	if err != nil {
		return nil, err
	}
	return t.servicePage(names, next)
}

// QueryServiceByRange pages through services with start <= name < end in name order ("" = unbounded).
func (c *SmartContract) QueryServiceByRange(ctx contractapi.TransactionContextInterface, start, end, pageSize, bookmark string) (*ServicePage, error) {
	if start != "" {
		if err := validateName("start", start); err != nil {
			return nil, err
		}
	}
	if end != "" {
		if err := validateName("end", end); err != nil {
			return nil, err
		}
		if start >= end {
			return nil, invalidArg("start %q must come before end %q", start, end)
		}
	}
	size, err := parsePageSize(pageSize)
	if err != nil {
		return nil, err
	}
	if err := validateBookmark(bookmark); err != nil {
		return nil, err
	}
	from := start
	if bookmark != "" {
		if bookmark < start || (end != "" && bookmark >= end) {
			return nil, invalidArg("bookmark %q is outside the range", bookmark)
		}
		from = bookmark
	}
	t, err := beginQuery(ctx.GetStub())
	if err != nil {
		return nil, err
	}
	names, next, err := t.pageNames(nsService, nil, from, end, size)
	if err != nil {
		return nil, err
	}
	return t.servicePage(names, next)
}

// QueryServiceByStatus pages through the services in one status (created, available or invalid).
func (c *SmartContract) QueryServiceByStatus(ctx contractapi.TransactionContextInterface, status, pageSize, bookmark string) (*ServicePage, error) {
	if status != statusCreated && status != statusAvailable && status != statusInvalid {
		return nil, invalidArg("status must be created, available or invalid, got %q", status)
	}
	size, err := parsePageSize(pageSize)
	if err != nil {
		return nil, err
	}
	if err := validateBookmark(bookmark); err != nil {
		return nil, err
	}
	t, err := beginQuery(ctx.GetStub())
	if err != nil {
		return nil, err
	}
	names, next, err := t.pageNames(nsByStatus, []string{status}, bookmark, "", size)
	if err != nil {
		return nil, err
	}
	return t.servicePage(names, next)
}
