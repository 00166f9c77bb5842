package contract

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestRegisterService(t *testing.T) {
	tests := []struct {
		name, spec, code string
	}{
		{"ok", serviceJSON("weather", 10), ""},
		{"free", serviceJSON("weather", 0), ""},
		{"negative price", serviceJSON("weather", -1), CodeInvalidArgument},
		{"bad JSON", `{"name":`, CodeInvalidArgument},
		{"name taken", serviceJSON("taken", 1), CodeAlreadyExists},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, c := scenario(t)
			n.mustSubmit(c.carol, "RegisterService", serviceJSON("taken", 1))
			if tt.code != "" {
				n.requireCode(tt.code, c.bob, "RegisterService", tt.spec)
				return
			}
			s := decode[Service](t, n.mustSubmit(c.bob, "RegisterService", tt.spec))
			require.Equal(t, "ServiceRegistered", n.last.events[0].name)
			require.Equal(t, "bob", s.Developer, "the developer is the caller, never an argument")
			require.Equal(t, statusCreated, s.Status)
			require.Equal(t, []string{}, s.Components)
			require.Equal(t, QoS{AvailabilityBp: 9990, LatencyMs: 120}, s.QoS)
			require.Equal(t, s, decode[Service](t, n.mustEvaluate(c.alice, "QueryService", "weather")))
		})
	}
}

func TestLifecycle(t *testing.T) {
	n, c := scenario(t)
	n.mustSubmit(c.bob, "RegisterService", serviceJSON("weather", 10))
	nt := func() int64 { return n.user("bob").Contribution.AvailableServices }

	n.requireCode(CodeInvalidState, c.alice, "CallService", "weather", "1")
	s := decode[Service](t, n.mustSubmit(c.bob, "PublishService", "weather"))
	require.Equal(t, "ServicePublished", n.last.events[0].name)
	require.Equal(t, statusAvailable, s.Status)
	require.Equal(t, int64(1), nt())
	n.requireCode(CodeInvalidState, c.bob, "PublishService", "weather")

	s = decode[Service](t, n.mustSubmit(c.bob, "InvalidateService", "weather"))
	require.Equal(t, "ServiceInvalidated", n.last.events[0].name)
	require.Equal(t, statusInvalid, s.Status)
	require.Equal(t, int64(0), nt())
	n.requireCode(CodeInvalidState, c.bob, "InvalidateService", "weather")
	n.requireCode(CodeInvalidState, c.alice, "CallService", "weather", "1")
	n.requireCode(CodeNotFound, c.bob, "PublishService", "nothing")
}

// Decision: an invalid service may be republished by its developer. Invalidation is a withdrawal, the name
// stays the developer's, and buyers' remaining calls become usable again.
func TestInvalidServiceCanBeRepublishedByItsDeveloper(t *testing.T) {
	n, c := scenario(t)
	n.publish(c.bob, "weather", 10)
	n.mustSubmit(c.alice, "CallService", "weather", "2")
	n.mustSubmit(c.bob, "InvalidateService", "weather")
	n.requireCode(CodeForbidden, c.alice, "PublishService", "weather")
	s := decode[Service](t, n.mustSubmit(c.bob, "PublishService", "weather"))
	require.Equal(t, statusAvailable, s.Status)
	require.Equal(t, int64(1), n.user("bob").Contribution.AvailableServices)
	n.mustSubmit(c.alice, "CallService", "weather", "1")
	r := decode[ServiceCallTime](t, n.mustEvaluate(c.bob, "GetSpecCallTime", "weather", "alice"))
	require.Equal(t, int64(3), r.Remaining)
}

func TestCreatedServiceCanBeInvalidated(t *testing.T) {
	n, c := scenario(t)
	n.mustSubmit(c.bob, "RegisterService", serviceJSON("draft", 1))
	n.mustSubmit(c.bob, "InvalidateService", "draft")
	require.Equal(t, int64(0), n.user("bob").Contribution.AvailableServices)
}

func TestEditService(t *testing.T) {
	tests := []struct {
		name, patch, code string
		check             func(t *testing.T, s Service)
	}{
		{"price", `{"price":25}`, "", func(t *testing.T, s Service) { require.Equal(t, int64(25), s.Price) }},
		{"all fields", `{"category":"geo","description":"new","url":"http://x.example/y","price":0,"qos":{"latencyMs":5,"availabilityBp":10000}}`, "",
			func(t *testing.T, s Service) {
				require.Equal(t, Service{Category: "geo", Components: []string{}, CreatedAt: s.CreatedAt, Description: "new",
					Developer: "bob", Name: "weather", Price: 0, QoS: QoS{AvailabilityBp: 10000, LatencyMs: 5},
					Status: statusAvailable, UpdatedAt: s.UpdatedAt, URL: "http://x.example/y"}, s)
			}},
		{"empty patch", `{}`, CodeInvalidArgument, nil},
		{"negative price", `{"price":-2}`, CodeInvalidArgument, nil},
		{"developer is not editable", `{"developer":"alice"}`, CodeInvalidArgument, nil},
		{"status is not editable", `{"status":"available"}`, CodeInvalidArgument, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, c := scenario(t)
			n.publish(c.bob, "weather", 10)
			if tt.code != "" {
				n.requireCode(tt.code, c.bob, "EditService", "weather", tt.patch)
				return
			}
			s := decode[Service](t, n.mustSubmit(c.bob, "EditService", "weather", tt.patch))
			require.Equal(t, "ServiceEdited", n.last.events[0].name)
			tt.check(t, s)
			require.Equal(t, s, decode[Service](t, n.mustEvaluate(c.alice, "QueryService", "weather")))
		})
	}
}

func TestEditingPartOfTheQoSKeepsTheRest(t *testing.T) {
	n, c := scenario(t)
	n.publish(c.bob, "weather", 10)
	n.mustSubmit(c.bob, "EditService", "weather", `{"qos":{"latencyMs":120,"availabilityBp":9990}}`)
	s := decode[Service](t, n.mustSubmit(c.bob, "EditService", "weather", `{"qos":{"latencyMs":100}}`))
	require.Equal(t, QoS{AvailabilityBp: 9990, LatencyMs: 100}, s.QoS)
	s = decode[Service](t, n.mustSubmit(c.bob, "EditService", "weather", `{"qos":{"availabilityBp":9000}}`))
	require.Equal(t, QoS{AvailabilityBp: 9000, LatencyMs: 100}, s.QoS)
	n.requireCode(CodeInvalidArgument, c.bob, "EditService", "weather", `{"qos":{}}`)
	n.requireCode(CodeInvalidArgument, c.bob, "EditService", "weather", `{"qos":{"latencyMs":-1}}`)
	require.Equal(t, QoS{AvailabilityBp: 9000, LatencyMs: 100}, decode[Service](t, n.mustEvaluate(c.alice, "QueryService", "weather")).QoS)
}

func TestQueryService(t *testing.T) {
	n, c := scenario(t)
	n.requireCode(CodeNotFound, c.alice, "QueryService", "weather")
	n.requireCode(CodeInvalidArgument, c.alice, "QueryService", "we ather")
	n.requireCode(CodeUnauthenticated, &ident{mspID: "", creator: nil}, "QueryService", "weather")
}

// pages walks all pages of a paginated query and returns the names in order.
func pages(t *testing.T, n *testNet, id *ident, fn string, pageSize string, args ...string) ([]string, int) {
	var names []string
	bookmark, calls := "", 0
	for {
		p := decode[ServicePage](t, n.mustEvaluate(id, fn, append(append(args, pageSize), bookmark)...))
		calls++
		require.LessOrEqual(t, len(p.Records), 100)
		for _, s := range p.Records {
			names = append(names, s.Name)
		}
		if p.Bookmark == "" {
			return names, calls
		}
		bookmark = p.Bookmark
		require.Less(t, calls, 1000)
	}
}

func TestPaginatedQueries(t *testing.T) {
	n, c := scenario(t)
	var bobs, all []string
	for i := 0; i < 23; i++ {
		name := fmt.Sprintf("svc%02d", i)
		owner := c.bob
		if i%3 == 0 {
			owner = c.carol
		} else {
			bobs = append(bobs, name)
		}
		all = append(all, name)
		n.mustSubmit(owner, "RegisterService", serviceJSON(name, 1))
		if i%2 == 0 {
			n.mustSubmit(owner, "PublishService", name)
		}
	}

	got, calls := pages(t, n, c.alice, "QueryServiceByUser", "5", "bob")
	require.Equal(t, bobs, got)
	require.Equal(t, 3, calls, "15 services in pages of 5")

	got, _ = pages(t, n, c.alice, "QueryServiceByRange", "4", "", "")
	require.Equal(t, all, got)
	got, _ = pages(t, n, c.alice, "QueryServiceByRange", "4", "svc05", "svc12")
	require.Equal(t, all[5:12], got)
	got, calls = pages(t, n, c.alice, "QueryServiceByRange", "", "svc20", "")
	require.Equal(t, all[20:], got)
	require.Equal(t, 1, calls, "default page size")

	var available, created []string
	for i, name := range all {
		if i%2 == 0 {
			available = append(available, name)
		} else {
			created = append(created, name)
		}
	}
	got, _ = pages(t, n, c.alice, "QueryServiceByStatus", "3", "available")
	require.Equal(t, available, got)
	got, _ = pages(t, n, c.alice, "QueryServiceByStatus", "100", "created")
	require.Equal(t, created, got)
	got, _ = pages(t, n, c.alice, "QueryServiceByStatus", "0", "invalid")
	require.Empty(t, got)

	// A full page exactly at the end has no bookmark.
	p := decode[ServicePage](t, n.mustEvaluate(c.alice, "QueryServiceByUser", "carol", "8", ""))
	require.Len(t, p.Records, 8)
	require.Equal(t, "", p.Bookmark)

	for _, bad := range [][]string{
		{"QueryServiceByUser", "bob", "101", ""},
		{"QueryServiceByUser", "bob", "-1", ""},
		{"QueryServiceByUser", "bob", "5", "no spaces"},
		{"QueryServiceByUser", "", "5", ""},
		{"QueryServiceByRange", "b", "a", "5", ""},
		{"QueryServiceByRange", "a", "a", "5", ""},
		{"QueryServiceByRange", "a b", "", "5", ""},
		{"QueryServiceByRange", "", "a\x00", "5", ""},
		{"QueryServiceByRange", "b", "c", "5", "a"},
		{"QueryServiceByRange", "b", "c", "5", "c"},
		{"QueryServiceByRange", "b", "c", "x", ""},
		{"QueryServiceByRange", "b", "c", "5", "-x"},
		{"QueryServiceByStatus", "removed", "5", ""},
		{"QueryServiceByStatus", "", "5", ""},
		{"QueryServiceByStatus", "created", "1e2", ""},
		{"QueryServiceByStatus", "created", "5", "x y"},
	} {
		n.requireCode(CodeInvalidArgument, c.alice, bad[0], bad[1:]...)
	}
	n.requireCode(CodeNotFound, c.alice, "QueryServiceByUser", "nobody", "5", "")
}

// The registry index orders services by createdAt: a time's string sorts as the time, even within one second.
func TestTimesSortAsTheirStrings(t *testing.T) {
	n, c := scenario(t)
	second := time.Date(2021, 7, 1, 12, 0, 0, 0, time.UTC)
	n.clock = second.Add(-time.Second) // each transaction's clock is one second on
	whole := decode[Service](t, n.mustSubmit(c.bob, "RegisterService", serviceJSON("whole", 1)))
	n.clock = second.Add(-time.Second / 2)
	half := decode[Service](t, n.mustSubmit(c.bob, "RegisterService", serviceJSON("half", 1)))
	require.Equal(t, "2021-07-01T12:00:00.000000000Z", whole.CreatedAt)
	require.Equal(t, "2021-07-01T12:00:00.500000000Z", half.CreatedAt)
	require.Less(t, whole.CreatedAt, half.CreatedAt)
}
