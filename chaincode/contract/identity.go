package contract

import (
	"crypto/sha256"
	"encoding/hex"

	"github.com/hyperledger/fabric-chaincode-go/v2/pkg/cid"
)

// caller is the transaction's client identity: MSP ID + certificate ID, never an argument.
type caller struct {
	mspID      string
	certID     string // the certificate's subject and issuer: changes when the holder re-enrolls
	enrollment string // the issuing CA and the enrollment ID: what a user is bound to
	admin      bool   // the certificate carries the NodeOU role "admin"
	publicKey  any    // the certificate's public key: a user's vouchers are signed with it
}

// identityBinding ties one enrollment (every certificate its CA issues for that enrollment ID) to the one
// user it registered, forever. Binding the full subject instead would let a holder re-enroll with another
// subject field (e.g. Locality), register again and collect a second grant; and removing the user would not
// stop its other certificates.
type identityBinding struct {
	User string `json:"user"`
}

// enrollmentID names an enrollment: SHA-256 over the issuer's DER name and the subject CN (fabric-ca makes
// CN the enrollment ID). The DER name delimits itself, so no two (issuer, CN) pairs share a digest input.
func enrollmentID(rawIssuer []byte, commonName string) string {
	h := sha256.New()
	h.Write(rawIssuer)
	h.Write([]byte{0})
	h.Write([]byte(commonName))
	return hex.EncodeToString(h.Sum(nil))
}

// identify reads the caller from the signed proposal. An identity without an MSP ID or an X.509 certificate
// is rejected (defect 4 of the original code accepted an empty sender).
func (t *txn) identify() (caller, error) {
	id, err := cid.New(t.stub)
	if err != nil {
		return caller{}, unauthenticated("cannot read the caller's identity: %v", err)
	}
	mspID, _ := id.GetMSPID()
	if mspID == "" {
		return caller{}, unauthenticated("the caller's identity has no MSP ID")
	}
	certID, err := id.GetID()
	if err != nil || certID == "" {
		return caller{}, unauthenticated("the caller's identity has no X.509 certificate")
	}
	cert, err := id.GetX509Certificate()
	if err != nil || cert == nil || cert.Subject.CommonName == "" {
		return caller{}, unauthenticated("the caller's certificate names no enrollment ID (subject CN)")
	}
	admin, err := id.HasOUValue("admin")
	if err != nil {
		admin = false
	}
	return caller{mspID: mspID, certID: certID, enrollment: enrollmentID(cert.RawIssuer, cert.Subject.CommonName),
		admin: admin, publicKey: cert.PublicKey}, nil
}

// actingUser returns the active user bound to the caller: every mutating function acts only as this user.
func (t *txn) actingUser() (caller, *userRecord, error) {
	c, u, err := t.boundUser()
	if err != nil {
		return caller{}, nil, err
	}
	if u.Status != userActive {
		return caller{}, nil, forbidden("user %q was removed", u.Name)
	}
	return c, u, nil
}

// boundUser returns the user bound to the caller's enrollment, active or removed.
func (t *txn) boundUser() (caller, *userRecord, error) {
	c, err := t.identify()
	if err != nil {
		return caller{}, nil, err
	}
	var b identityBinding
	found, err := t.get(&b, nsIdentity, c.mspID, c.enrollment)
	if err != nil {
		return caller{}, nil, err
	}
	if !found {
		return caller{}, nil, unauthenticated("the caller is not a registered user; call RegisterUser first")
	}
	u, err := t.loadUser(b.User)
	if err != nil {
		return caller{}, nil, err
	}
	return c, u, nil
}

// maintainerAdmin checks that the caller is an admin of one of the maintaining organizations.
func (t *txn) maintainerAdmin(cfg *config) (caller, error) {
	c, err := t.identify()
	if err != nil {
		return caller{}, err
	}
	if !c.admin || !contains(cfg.Maintainers, c.mspID) {
		return caller{}, forbidden("only an admin of a maintaining organization may do this")
	}
	return c, nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
