package contract

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestRegisterUser(t *testing.T) {
	c := newCast(t)
	tests := []struct {
		name, user, intro string
		caller            *ident
		code              string
	}{
		{"new identity", "stranger", "hello", c.stranger, ""},
		{"empty introduction", "stranger", "", c.stranger, ""},
		{"identity already registered", "alice2", "", c.alice, CodeAlreadyExists},
		{"name taken", "alice", "", c.stranger, CodeAlreadyExists},
		{"name reserved by the founder", "founder", "", c.stranger, CodeAlreadyExists},
		{"bad name", "a b", "", c.stranger, CodeInvalidArgument},
		{"long introduction", "stranger", strings.Repeat("x", maxTextLen+1), c.stranger, CodeInvalidArgument},
		{"control character", "stranger", "hi\x07", c.stranger, CodeInvalidArgument},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, _ := scenario(t)
			if tt.code != "" {
				n.requireCode(tt.code, tt.caller, "RegisterUser", tt.user, tt.intro)
				return
			}
			u := decode[User](t, n.mustSubmit(tt.caller, "RegisterUser", tt.user, tt.intro))
			require.Equal(t, "UserRegistered", n.last.events[0].name)
			require.Equal(t, "Org3MSP", u.MSPID)
			require.NotEmpty(t, u.CertID)
			require.Equal(t, userActive, u.Status)
			require.Equal(t, int64(500), u.Balance, "fifth registration: the grant has halved once")
			got := n.user(tt.user)
			got.Contribution, u.Contribution = Contribution{}, Contribution{}
			require.Equal(t, u, got, "the returned user is what is stored")
		})
	}
}

func TestRemoveUser(t *testing.T) {
	n, c := scenario(t)
	n.publish(c.bob, "weather", 10)
	n.publish(c.bob, "maps", 10)
	n.mustSubmit(c.bob, "RegisterService", serviceJSON("draft", 1))
	n.mustSubmit(c.bob, "InvalidateService", "maps")
	n.mustSubmit(c.alice, "CallService", "weather", "5") // bob receives 50 as a delta
	pool := decode[TokenInfo](t, n.mustEvaluate(c.alice, "TokenInfo")).Pool

	n.requireCode(CodeForbidden, c.alice, "RemoveUser", "bob")
	n.requireCode(CodeNotFound, c.alice, "RemoveUser", "nobody")
	r := decode[RemovalReceipt](t, n.mustSubmit(c.bob, "RemoveUser", "bob"))
	require.Equal(t, "UserRemoved", n.last.events[0].name)
	require.Equal(t, RemovalReceipt{Name: "bob", ReturnedToPool: 1050, ServicesInvalidated: 2}, r)

	bob := n.user("bob")
	require.Equal(t, userRemoved, bob.Status)
	require.Equal(t, int64(0), bob.Balance)
	require.Equal(t, 0.0, bob.Contribution.Value, "no available services left")
	for _, s := range []string{"weather", "maps", "draft"} {
		require.Equal(t, statusInvalid, decode[Service](t, n.mustEvaluate(c.alice, "QueryService", s)).Status)
	}
	require.Equal(t, pool+1050, decode[TokenInfo](t, n.mustEvaluate(c.alice, "TokenInfo")).Pool)

	// A removed user can do nothing, and its identity cannot register again.
	n.requireCode(CodeForbidden, c.bob, "PublishService", "weather")
	n.requireCode(CodeForbidden, c.bob, "RemoveUser", "bob")
	n.requireCode(CodeAlreadyExists, c.bob, "RegisterUser", "bob2", "")
	n.requireCode(CodeInvalidState, c.alice, "CallService", "weather", "1")
}

func TestQueryUser(t *testing.T) {
	n, c := scenario(t)
	n.publish(c.bob, "weather", 2)
	n.publish(c.bob, "maps", 0)
	n.mustSubmit(c.alice, "CallService", "weather", "3")
	n.mustSubmit(c.carol, "CallService", "maps", "7") // free: not counted in NP
	n.mustSubmit(c.dave, "CreateMashup", mashupJSON("trip", 1, "weather", "maps"))

	u := n.user("bob")
	// NP: alice paid for weather (carol's free calls do not count); NI: dave composed both services.
	require.Equal(t, Contribution{AvailableServices: 2, Buyers: 1, CallsBought: 3, Composers: 2, Compositions: 2,
		GammaMilli: 1000, LambdaMilli: 2000, Value: contribution(2, 2, 1, 2000, 1000)}, u.Contribution)
	require.Equal(t, int64(1000+6+2), u.Balance)
	require.Equal(t, 0.0, n.user("dave").Contribution.Value, "a created mashup is not yet available")

	n.requireCode(CodeNotFound, c.alice, "QueryUser", "nobody")
	n.requireCode(CodeInvalidArgument, c.alice, "QueryUser", "")
}
