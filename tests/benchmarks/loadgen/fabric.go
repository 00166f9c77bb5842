package main

import (
	"crypto/x509"
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/hyperledger/fabric-gateway/pkg/client"
	"github.com/hyperledger/fabric-gateway/pkg/identity"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
)

// Call is one line of the fabric mode's input: a contract function called as one of the identities, evaluated
// (a query) or submitted and waited for until committed (a transaction).
type Call struct {
	Identity int      `json:"identity"`
	Function string   `json:"function"`
	Args     []string `json:"args"`
	Submit   bool     `json:"submit,omitempty"`
}

// Member is one client identity of the -identities file: its MSP, certificate and private key (PEM).
type Member struct {
	MspID       string `json:"mspId"`
	Certificate string `json:"certificate"`
	PrivateKey  string `json:"privateKey"`
}

// FabricTarget is where the calls go: one peer's gateway service, over one gRPC connection.
type FabricTarget struct {
	Peer, ServerName, TLSCA, Channel, Chaincode string
	Timeout                                     time.Duration
}

func runFabric(target FabricTarget, members []Member, calls []Call, concurrency, count int, duration time.Duration) (Summary, error) {
	connection, err := dial(target)
	if err != nil {
		return Summary{}, err
	}
	defer connection.Close()
	contracts := make([]*client.Contract, len(members))
	for i, m := range members {
		gateway, err := connectAs(connection, m, target.Timeout)
		if err != nil {
			return Summary{}, fmt.Errorf("identity %d: %w", i, err)
		}
		defer gateway.Close()
		contracts[i] = gateway.GetNetwork(target.Channel).GetContract(target.Chaincode)
	}
	for i, c := range calls {
		if c.Identity < 0 || c.Identity >= len(members) {
			return Summary{}, fmt.Errorf("call %d names identity %d of %d", i+1, c.Identity, len(members))
		}
	}
	return closedLoop(concurrency, count, len(calls), duration, func(_, i int) Outcome {
		return invoke(contracts[calls[i].Identity], calls[i])
	}), nil
}

func invoke(contract *client.Contract, c Call) Outcome {
	start := time.Now()
	var err error
	if c.Submit {
		_, err = contract.SubmitTransaction(c.Function, c.Args...)
	} else {
		_, err = contract.EvaluateTransaction(c.Function, c.Args...)
	}
	if err != nil {
		return Outcome{Latency: time.Since(start), Failure: fabricFailureKind(err)}
	}
	return Outcome{Latency: time.Since(start)}
}

func dial(target FabricTarget) (*grpc.ClientConn, error) {
	pem, err := os.ReadFile(target.TLSCA)
	if err != nil {
		return nil, err
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("no certificate in %s", target.TLSCA)
	}
	tls := credentials.NewClientTLSFromCert(roots, target.ServerName)
	return grpc.NewClient(target.Peer, grpc.WithTransportCredentials(tls))
}

func connectAs(connection *grpc.ClientConn, m Member, timeout time.Duration) (*client.Gateway, error) {
	certificate, err := identity.CertificateFromPEM([]byte(m.Certificate))
	if err != nil {
		return nil, err
	}
	id, err := identity.NewX509Identity(m.MspID, certificate)
	if err != nil {
		return nil, err
	}
	key, err := identity.PrivateKeyFromPEM([]byte(m.PrivateKey))
	if err != nil {
		return nil, err
	}
	sign, err := identity.NewPrivateKeySign(key)
	if err != nil {
		return nil, err
	}
	return client.Connect(id, client.WithSign(sign), client.WithClientConnection(connection),
		client.WithEvaluateTimeout(timeout), client.WithEndorseTimeout(timeout),
		client.WithSubmitTimeout(timeout), client.WithCommitStatusTimeout(timeout))
}

func readMembers(path string) ([]Member, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var members []Member
	if err := json.Unmarshal(data, &members); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(members) == 0 {
		return nil, fmt.Errorf("%s: no identities", path)
	}
	return members, nil
}
