package main

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// genesis is a well-formed Init digest (the SHA-256 of "genesis").
const genesis = "aeebad4a796fcc2e15dc4c6061b45ed9b373f26adfc798ca7d2d8cc58182718e"

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func files(m map[string]string) func(string) ([]byte, error) {
	return func(p string) ([]byte, error) {
		if v, ok := m[p]; ok {
			return []byte(v), nil
		}
		return nil, errors.New("no such file")
	}
}

func TestConfigFromEnv(t *testing.T) {
	pem := map[string]string{"/c.pem": "CERT", "/k.pem": "SECRET-MATERIAL", "/ca.pem": "CA", "/empty.pem": ""}
	base := map[string]string{envID: "tdses:abc", envAddress: "0.0.0.0:9999", envGenesis: genesis}
	with := func(extra map[string]string) map[string]string {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	tests := []struct {
		name    string
		env     map[string]string
		wantErr string
		tls     bool
		mtls    bool
	}{
		{"plain", base, "", false, false},
		{"missing id", map[string]string{envAddress: "x:1", envGenesis: genesis}, envID, false, false},
		{"missing address", map[string]string{envID: "x", envGenesis: genesis}, envAddress, false, false},
		{"missing genesis", map[string]string{envID: "x", envAddress: "x:1"}, envGenesis, false, false},
		{"genesis not a digest", with(map[string]string{envGenesis: strings.ToUpper(genesis)}), envGenesis, false, false},
		{"tls", with(map[string]string{envTLSCert: "/c.pem", envTLSKey: "/k.pem"}), "", true, false},
		{"mutual tls", with(map[string]string{envTLSCert: "/c.pem", envTLSKey: "/k.pem", envTLSClientCA: "/ca.pem"}), "", true, true},
		{"cert without key", with(map[string]string{envTLSCert: "/c.pem"}), envTLSKey, false, false},
		{"key without cert", with(map[string]string{envTLSKey: "/k.pem"}), envTLSCert, false, false},
		{"client CA without TLS", with(map[string]string{envTLSClientCA: "/ca.pem"}), envTLSClientCA, false, false},
		{"unreadable cert", with(map[string]string{envTLSCert: "/nope", envTLSKey: "/k.pem"}), envTLSCert, false, false},
		{"unreadable key", with(map[string]string{envTLSCert: "/c.pem", envTLSKey: "/nope"}), envTLSKey, false, false},
		{"empty CA", with(map[string]string{envTLSCert: "/c.pem", envTLSKey: "/k.pem", envTLSClientCA: "/empty.pem"}), envTLSClientCA, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := configFromEnv(env(tt.env), files(pem))
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				require.NotContains(t, err.Error(), "SECRET-MATERIAL", "key material must never appear in messages")
				return
			}
			require.NoError(t, err)
			require.Equal(t, !tt.tls, cfg.tls.Disabled)
			require.Equal(t, tt.mtls, len(cfg.tls.ClientCACerts) > 0)
		})
	}
}

func TestRunExitsNonZeroNamingTheMissingVariable(t *testing.T) {
	var out bytes.Buffer
	code := run(env(map[string]string{envAddress: "127.0.0.1:0"}), files(nil), &out)
	require.Equal(t, 2, code)
	require.Contains(t, out.String(), envID)
	require.Equal(t, 1, strings.Count(out.String(), "\n"), "one line")
}

func TestRunReportsAServerThatCannotStart(t *testing.T) {
	var out bytes.Buffer
	pem := map[string]string{"/c.pem": "not a certificate", "/k.pem": "not a key"}
	code := run(env(map[string]string{envID: "tdses:1", envAddress: "127.0.0.1:0", envGenesis: genesis,
		envTLSCert: "/c.pem", envTLSKey: "/k.pem"}), files(pem), &out)
	require.Equal(t, 1, code)
	require.Contains(t, out.String(), "listening on 127.0.0.1:0")
	require.Contains(t, out.String(), "server stopped")
	require.NotContains(t, out.String(), "not a key")
}
