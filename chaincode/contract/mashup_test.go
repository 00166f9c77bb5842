package contract

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestCreateMashup(t *testing.T) {
	tests := []struct {
		name       string
		spec       string
		code       string
		paid       int64
		bobGets    int64
		carolGets  int64
		bobNI      int64
		composedBy string
	}{
		{"pays each developer", mashupJSON("trip", 5, "weather", "maps", "geo"), "", 10 + 20 + 7, 30, 7, 2, ""},
		{"own component is free", mashupJSON("trip", 5, "weather", "sky"), "", 10, 10, 0, 1, ""},
		{"empty", mashupJSON("trip", 5), CodeInvalidArgument, 0, 0, 0, 0, ""},
		{"duplicate", mashupJSON("trip", 5, "weather", "weather"), CodeInvalidArgument, 0, 0, 0, 0, ""},
		{"self reference", mashupJSON("trip", 5, "weather", "trip"), CodeInvalidArgument, 0, 0, 0, 0, ""},
		{"missing component", mashupJSON("trip", 5, "weather", "nothing"), CodeNotFound, 0, 0, 0, 0, ""},
		{"created component", mashupJSON("trip", 5, "draft"), CodeInvalidState, 0, 0, 0, 0, ""},
		{"invalid component", mashupJSON("trip", 5, "old"), CodeInvalidState, 0, 0, 0, 0, ""},
		{"name taken", mashupJSON("weather", 5, "maps"), CodeAlreadyExists, 0, 0, 0, 0, ""},
		{"too expensive", mashupJSON("trip", 5, "gold"), CodeInsufficientFunds, 0, 0, 0, 0, ""},
		{"negative price", mashupJSON("trip", -5, "weather"), CodeInvalidArgument, 0, 0, 0, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, c := scenario(t)
			n.publish(c.bob, "weather", 10)
			n.publish(c.bob, "maps", 20)
			n.publish(c.carol, "geo", 7)
			n.publish(c.dave, "sky", 3)
			n.publish(c.bob, "gold", 5000)
			n.mustSubmit(c.bob, "RegisterService", serviceJSON("draft", 1))
			n.publish(c.bob, "old", 1)
			n.mustSubmit(c.bob, "InvalidateService", "old")
			if tt.code != "" {
				n.requireCode(tt.code, c.dave, "CreateMashup", tt.spec)
				require.Equal(t, int64(1000), n.balance("dave"))
				return
			}
			r := decode[MashupReceipt](t, n.mustSubmit(c.dave, "CreateMashup", tt.spec))
			require.Equal(t, "MashupCreated", n.last.events[0].name)
			created := decode[struct {
				Paid     int64              `json:"paid"`
				Payments []ComponentPayment `json:"payments"`
			}](t, string(n.last.events[0].payload))
			paidTo := map[string]int64{}
			for _, p := range created.Payments {
				paidTo[p.Developer] += p.Amount
			}
			require.Equal(t, map[string]int64{"bob": tt.bobGets, "carol": tt.carolGets},
				map[string]int64{"bob": paidTo["bob"], "carol": paidTo["carol"]})
			require.Zero(t, paidTo["dave"], "no payment to yourself")
			require.Equal(t, tt.paid, paidTo["bob"]+paidTo["carol"])
			require.Equal(t, tt.paid, created.Paid)
			require.Equal(t, tt.paid, r.Paid)
			require.True(t, r.Mashup.Mashup)
			require.Equal(t, statusCreated, r.Mashup.Status)
			require.Equal(t, "dave", r.Mashup.Developer)
			require.Equal(t, 1000-tt.paid, n.balance("dave"))
			require.Equal(t, 1000+tt.bobGets, n.balance("bob"))
			require.Equal(t, 1000+tt.carolGets, n.balance("carol"))
			require.Equal(t, tt.bobNI, n.user("bob").Contribution.Compositions)
			require.Equal(t, int64(0), n.user("dave").Contribution.Compositions, "composing your own service does not count")
			usage := decode[ServiceUsage](t, n.mustEvaluate(c.alice, "GetCallTimesOfService", "weather"))
			require.Equal(t, int64(1), usage.Compositions)

			// The mashup follows the lifecycle and can itself be composed once available.
			n.mustSubmit(c.dave, "PublishService", "trip")
			require.Equal(t, int64(2), n.user("dave").Contribution.AvailableServices)
			n.mustSubmit(c.alice, "CreateMashup", mashupJSON("holiday", 1, "trip"))
			require.Equal(t, int64(1000-tt.paid+5), n.balance("dave"))
		})
	}
}
