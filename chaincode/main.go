// Command chaincode runs the T-DSES service chaincode as a service (CCaaS); see README.md for its environment.
package main

import (
	"fmt"
	"io"
	"os"

	"github.com/hyperledger/fabric-chaincode-go/v2/shim"

	"tdses/chaincode/contract"
)

func main() {
	os.Exit(run(os.Getenv, os.ReadFile, os.Stderr))
}

// run builds the chaincode server from the environment and serves until it fails; it returns the exit code.
func run(getenv func(string) string, readFile func(string) ([]byte, error), stderr io.Writer) int {
	cfg, err := configFromEnv(getenv, readFile)
	if err != nil {
		fmt.Fprintln(stderr, "chaincode:", err)
		return 2
	}
	cc, err := contract.New(cfg.genesis)
	if err != nil {
		fmt.Fprintln(stderr, "chaincode:", err)
		return 1
	}
	server := &shim.ChaincodeServer{CCID: cfg.ccid, Address: cfg.address, CC: cc, TLSProps: cfg.tls}
	fmt.Fprintf(stderr, "chaincode: %s listening on %s (tls=%t, client certificates required=%t)\n",
		cfg.ccid, cfg.address, !cfg.tls.Disabled, len(cfg.tls.ClientCACerts) > 0)
	if err := server.Start(); err != nil {
		fmt.Fprintln(stderr, "chaincode: server stopped:", err)
		return 1
	}
	return 0
}
