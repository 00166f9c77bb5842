package contract

// Key layout: every object lives under a composite key whose object type is its namespace, so keys of
// different types never collide and attributes are separated by U+0000 (which names cannot contain). Delta keys
// begin with deltaMark instead of the composite key's U+0000 (tally.go: deltaPrefix).
const (
	nsConfig       = "tdses.config"      // () -> config
	nsPool         = "tdses.pool"        // () -> pool
	nsUser         = "tdses.user"        // (name) -> user
	nsIdentity     = "tdses.identity"    // (mspId, enrollment) -> identity binding
	nsService      = "tdses.service"     // (name) -> service
	nsByDeveloper  = "tdses.svc~dev"     // (developer, service) -> marker
	nsByStatus     = "tdses.svc~status"  // (status, service) -> marker
	nsRights       = "tdses.rights"      // (service, user) -> service call time
	nsBuyRecord    = "tdses.buy"         // (service, user, txId) -> buy record
	nsReduceRecord = "tdses.reduce"      // (service, user, txId) -> reduce record
	nsServer       = "tdses.server"      // (service, server user) -> authorization
	nsTally        = "tdses.tally"       // (kind, owner) -> folded counters
	nsTallyDelta   = "tdses.tally~delta" // (kind, owner, time, txId, seq), begun with deltaMark -> counter increments
	nsSkeleton     = "tdses.skeleton"    // (kind, skeleton) -> the name that claimed that look
	nsComposer     = "tdses.composer"    // (service, user) -> marker: the user composed the service
	nsVoucherKey   = "tdses.voucherkey"  // (user) -> the public keys its vouchers may be signed with
	nsSettleRecord = "tdses.settle"      // (service, user, txId) -> settle record
)

// deltaMark begins the delta keys: the layout of a composite key in a simple key, which a range query may bound.
// Chaincode versions before it wrote (kind, owner, txId, seq) composite keys; they are still read.
const deltaMark = "\x01"

// Kinds of names that must not look alike: a user and a service may share a name, two users may not look alike.
const (
	nameOfUser    = "user"
	nameOfService = "service"
)

// Tally owner kinds.
const (
	ownerUser    = "user"
	ownerOrg     = "org"
	ownerService = "service"
)

// An index entry carries no data: the object it points to is the one source of truth.
// Fabric treats an empty value as a delete, hence one byte.
var indexMarker = []byte{0}
