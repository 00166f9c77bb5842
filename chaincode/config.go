package main

import (
	"fmt"

	"github.com/hyperledger/fabric-chaincode-go/v2/shim"

	"tdses/chaincode/contract"
)

// Environment of the chaincode server; the network runner sets these.
const (
	envID          = "CHAINCODE_ID"
	envAddress     = "CHAINCODE_SERVER_ADDRESS"
	envTLSCert     = "CHAINCODE_TLS_CERT_FILE"
	envTLSKey      = "CHAINCODE_TLS_KEY_FILE"
	envTLSClientCA = "CHAINCODE_TLS_CLIENT_CA_FILE"
	envGenesis     = "TDSES_GENESIS_SHA256"
)

type serverConfig struct {
	ccid    string
	address string
	genesis string // the SHA-256 of the only Init argument this organization's peers endorse
	tls     shim.TLSProperties
}

// configFromEnv reads the server configuration. TLS is on when both certificate and key files are set;
// a client CA file makes the server require and verify client certificates.
func configFromEnv(getenv func(string) string, readFile func(string) ([]byte, error)) (serverConfig, error) {
	cfg := serverConfig{ccid: getenv(envID), address: getenv(envAddress), genesis: getenv(envGenesis)}
	if cfg.ccid == "" {
		return serverConfig{}, fmt.Errorf("%s is required (the chaincode package id)", envID)
	}
	if cfg.address == "" {
		return serverConfig{}, fmt.Errorf("%s is required (host:port to listen on)", envAddress)
	}
	if err := contract.CheckGenesis(cfg.genesis); err != nil {
		return serverConfig{}, fmt.Errorf("%s: %v (of the Init argument this organization agreed to)", envGenesis, err)
	}
	certFile, keyFile, caFile := getenv(envTLSCert), getenv(envTLSKey), getenv(envTLSClientCA)
	if certFile == "" && keyFile == "" {
		if caFile != "" {
			return serverConfig{}, fmt.Errorf("%s needs %s and %s", envTLSClientCA, envTLSCert, envTLSKey)
		}
		cfg.tls.Disabled = true
		return cfg, nil
	}
	if certFile == "" {
		return serverConfig{}, fmt.Errorf("%s is set but %s is not", envTLSKey, envTLSCert)
	}
	if keyFile == "" {
		return serverConfig{}, fmt.Errorf("%s is set but %s is not", envTLSCert, envTLSKey)
	}
	var err error
	if cfg.tls.Cert, err = readPEM(readFile, envTLSCert, certFile); err != nil {
		return serverConfig{}, err
	}
	if cfg.tls.Key, err = readPEM(readFile, envTLSKey, keyFile); err != nil {
		return serverConfig{}, err
	}
	if caFile != "" {
		if cfg.tls.ClientCACerts, err = readPEM(readFile, envTLSClientCA, caFile); err != nil {
			return serverConfig{}, err
		}
	}
	return cfg, nil
}

// readPEM reads a PEM file; the error names the variable and the path, never the content.
func readPEM(readFile func(string) ([]byte, error), env, path string) ([]byte, error) {
	b, err := readFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s: cannot read %s: %v", env, path, err)
	}
	if len(b) == 0 {
		return nil, fmt.Errorf("%s: %s is empty", env, path)
	}
	return b, nil
}
