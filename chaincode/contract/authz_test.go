package contract

import (
	"testing"
)

// authzWorld: bob owns "weather" (available) and "draft" (created); alice holds 5 calls on weather;
// dave is bob's authorized server on weather.
func authzWorld(t *testing.T) (*testNet, cast) {
	n, c := scenario(t)
	n.publish(c.bob, "weather", 10)
	n.mustSubmit(c.bob, "RegisterService", serviceJSON("draft", 1))
	n.mustSubmit(c.alice, "CallService", "weather", "5")
	n.mustSubmit(c.bob, "AuthorizeServer", "weather", "dave")
	return n, c
}

// TestAuthorizationMatrix runs each mutating function as the owner (bob), another user of the owner's
// organization (alice), a user of another organization (carol) and an unregistered identity (stranger).
// "" means the call succeeds.
func TestAuthorizationMatrix(t *testing.T) {
	const ok = ""
	tests := []struct {
		fn                               string
		args                             []string
		owner, other, otherOrg, stranger string
	}{
		{"RegisterUser", []string{"newcomer", ""}, CodeAlreadyExists, CodeAlreadyExists, CodeAlreadyExists, ok},
		{"RemoveUser", []string{"bob"}, ok, CodeForbidden, CodeForbidden, CodeUnauthenticated},
		{"RegisterService", []string{serviceJSON("fresh", 1)}, ok, ok, ok, CodeUnauthenticated},
		{"PublishService", []string{"draft"}, ok, CodeForbidden, CodeForbidden, CodeUnauthenticated},
		{"InvalidateService", []string{"weather"}, ok, CodeForbidden, CodeForbidden, CodeUnauthenticated},
		{"EditService", []string{"weather", `{"price":1}`}, ok, CodeForbidden, CodeForbidden, CodeUnauthenticated},
		{"CreateMashup", []string{mashupJSON("combo", 1, "weather")}, ok, ok, ok, CodeUnauthenticated},
		{"CallService", []string{"weather", "1"}, CodeForbidden, ok, ok, CodeUnauthenticated},
		{"ReduceCallTime", []string{"weather", "alice", "1"}, ok, CodeForbidden, CodeForbidden, CodeUnauthenticated},
		{"RewardService", []string{"weather", "3"}, CodeForbidden, ok, ok, CodeUnauthenticated},
		{"AuthorizeServer", []string{"weather", "mallory"}, ok, CodeForbidden, CodeForbidden, CodeUnauthenticated},
		{"RevokeServer", []string{"weather", "dave"}, ok, CodeForbidden, CodeForbidden, CodeUnauthenticated},
		{"CompactService", []string{"weather"}, ok, CodeForbidden, CodeForbidden, CodeUnauthenticated},
		{"CompactAccount", nil, ok, ok, ok, CodeUnauthenticated},
		{"Transfer", []string{"mallory", "1"}, ok, ok, ok, CodeUnauthenticated},
		{"OrgTransfer", []string{"mallory", "1"}, CodeForbidden, CodeForbidden, CodeForbidden, CodeForbidden},
		{"SetContributionWeights", []string{"1", "1"}, CodeForbidden, CodeForbidden, CodeForbidden, CodeForbidden},
		{"Init", []string{defaultInit}, CodeAlreadyExists, CodeAlreadyExists, CodeAlreadyExists, CodeAlreadyExists},
	}
	for _, tt := range tests {
		roles := []struct {
			role string
			want string
			who  func(c cast) *ident
		}{
			{"owner", tt.owner, func(c cast) *ident { return c.bob }},
			{"other user", tt.other, func(c cast) *ident { return c.alice }},
			{"other organization", tt.otherOrg, func(c cast) *ident { return c.carol }},
			{"unregistered", tt.stranger, func(c cast) *ident { return c.stranger }},
		}
		for _, r := range roles {
			t.Run(tt.fn+"/"+r.role, func(t *testing.T) {
				n, c := authzWorld(t)
				if r.want == ok {
					n.mustSubmit(r.who(c), tt.fn, tt.args...)
					return
				}
				n.requireCode(r.want, r.who(c), tt.fn, tt.args...)
			})
		}
	}
}

// Governance functions: only an admin of a maintaining organization.
func TestAdminMatrix(t *testing.T) {
	tests := []struct {
		fn   string
		args []string
	}{
		{"OrgTransfer", []string{"alice", "1"}},
		{"SetContributionWeights", []string{"1", "1"}},
	}
	for _, tt := range tests {
		t.Run(tt.fn, func(t *testing.T) {
			n, c := scenario(t)
			n.mustSubmit(c.admin1, tt.fn, tt.args...)
			n.mustSubmit(c.admin2, tt.fn, tt.args...)
			n.requireCode(CodeForbidden, c.outsiderAdmin, tt.fn, tt.args...)
			n.requireCode(CodeForbidden, c.alice, tt.fn, tt.args...)
			n.requireCode(CodeForbidden, c.stranger, tt.fn, tt.args...)
		})
	}
}
