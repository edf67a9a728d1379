package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/crypto/bcrypt"
	"golang.org/x/term"

	"github.com/shoal-dev/shoal/policy"
)

// exitError makes the command exit with code after printing err. main
// exits 1 on any error; the type says that a command means it (verify's
// "not good" answer), and carries the code should main map others.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// ExitCode is the process exit code the command asks for.
func (e *exitError) ExitCode() int { return e.code }

func newPolicyCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "policy",
		Short: "Make, sign, check and install signed access policies",
		Long: `A policy says who may pull, push, delete and list which repositories,
which peers belong to the fleet, which upstreams may be fetched from and
which images must be signed. It is written as YAML, signed offline with
one or more root keys, and installed on any node, which passes it on to its
peers. Nodes accept it only when enough distinct root keys signed it, it
is for their network, it has not expired, and its version is above the
one they hold. See docs/policy.md.`,
	}
	cmd.AddCommand(newPolicyKeygenCommand(), newPolicySignCommand(), newPolicyVerifyCommand(),
		newPolicyApplyCommand(), newPolicyHashPasswordCommand())
	return cmd
}

func newPolicyKeygenCommand() *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "keygen --out DIR",
		Short: "Make a policy signing key pair",
		Long: `Make an ed25519 key pair: DIR/policy.key (private, PKCS#8 PEM, mode 0600)
and DIR/policy.pub (public, PKIX PEM). Keep the private key offline; give
policy.pub to nodes with --policy-root. An existing policy.key is never
overwritten.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			pub, priv, err := policy.GenerateKey()
			if err != nil {
				return err
			}
			if err := policy.WriteKeyPair(out, pub, priv); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %s/%s and %s/%s\nkey ID %s\n", out, policy.PrivateKeyFile, out, policy.PublicKeyFile, policy.KeyID(pub))
			return nil
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "directory to write policy.key and policy.pub into (created if needed)")
	cmd.MarkFlagRequired("out")
	return cmd
}

func newPolicySignCommand() *cobra.Command {
	var keyFile, out string
	cmd := &cobra.Command{
		Use:   "sign --key FILE --out FILE POLICY",
		Short: "Sign a policy document, or add a signature to a signed one",
		Long: `Sign a policy document (YAML or JSON) with a private key and write the
signed envelope (DSSE JSON) to --out.

POLICY may also be an envelope written by an earlier sign: the key's
signature is added to it (or replaces that key's earlier one). This is how
a policy with "threshold: 2" gets its second signature — each key holder
runs sign on the envelope in turn; the document itself is never changed.

The document is validated before it is signed; a key that signs twice
still counts once toward the threshold.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			priv, err := policy.ReadPrivateKey(keyFile)
			if err != nil {
				return err
			}
			in, err := readPolicyFile(args[0])
			if err != nil {
				return err
			}
			env, err := policy.ParseEnvelope(in)
			if err != nil {
				if looksLikeEnvelope(in) {
					return fmt.Errorf("%s looks like an envelope but is not a valid one: %w", args[0], err)
				}
				env = &policy.Envelope{PayloadType: policy.PayloadType, Payload: in}
			} else if env.PayloadType != policy.PayloadType {
				return fmt.Errorf("%s is an envelope of %q, not a Shoal policy", args[0], env.PayloadType)
			}
			doc, err := policy.Parse(env.Payload)
			if err != nil {
				return fmt.Errorf("%s: %w", args[0], err)
			}
			env.Sign(priv)
			if err := os.WriteFile(out, append(env.Marshal(), '\n'), 0o644); err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "signed version %d for network %q with key %s\n", doc.Version, doc.Network, policy.KeyID(priv.Public().(ed25519.PublicKey)))
			fmt.Fprintf(w, "%s holds %d signature(s); the policy needs %d distinct root key(s)\n", out, len(env.Signatures), doc.RequiredSignatures())
			if time.Now().After(doc.Expires) {
				fmt.Fprintf(cmd.ErrOrStderr(), "warning: the policy expired at %s; nodes will refuse it\n", doc.Expires.Format(time.RFC3339))
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&keyFile, "key", "", "private key file (policy.key from keygen)")
	cmd.Flags().StringVar(&out, "out", "", "file to write the signed envelope to (may be POLICY itself)")
	cmd.MarkFlagRequired("key")
	cmd.MarkFlagRequired("out")
	return cmd
}

// looksLikeEnvelope tells a broken envelope from a JSON policy document,
// so a damaged envelope is reported rather than signed as a document.
func looksLikeEnvelope(b []byte) bool {
	return bytes.HasPrefix(bytes.TrimSpace(b), []byte("{")) && bytes.Contains(b, []byte(`"payloadType"`))
}

func newPolicyVerifyCommand() *cobra.Command {
	var (
		roots        []string
		network      string
		minThreshold int
	)
	cmd := &cobra.Command{
		Use:   "verify --root FILE [--root FILE...] [--network NAME] SIGNED",
		Short: "Check a signed policy as a node would",
		Long: `Check a signed policy the way a node does before accepting it: the
envelope, the payload type, signatures by enough distinct root keys, the
network (when --network is given) and the validity window (issued, expires,
with 5m of clock skew). It cannot check the version against what a node
holds; a node also refuses a version not above its own.

Exits 0 and prints the version, network, expiry and signing key IDs when
the policy is good; exits 1 and says why otherwise.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			v := policy.Verifier{Network: network, MinThreshold: minThreshold}
			names := map[string]string{}
			for _, r := range roots {
				pub, err := policy.ReadPublicKey(r)
				if err != nil {
					return err
				}
				v.Roots = append(v.Roots, pub)
				names[policy.KeyID(pub)] = r
			}
			b, err := readPolicyFile(args[0])
			if err != nil {
				return err
			}
			now := time.Now()
			p, err := v.Verify(b, now)
			if err != nil {
				return &exitError{code: 1, err: fmt.Errorf("%s is not acceptable: %w", args[0], err)}
			}
			d := p.Document
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "version:   %d\n", d.Version)
			fmt.Fprintf(w, "network:   %s\n", d.Network)
			fmt.Fprintf(w, "issued:    %s\n", d.Issued.UTC().Format(time.RFC3339))
			fmt.Fprintf(w, "expires:   %s (in %s)\n", d.Expires.UTC().Format(time.RFC3339), d.Expires.Sub(now).Round(time.Minute))
			fmt.Fprintf(w, "digest:    %s\n", p.Digest)
			fmt.Fprintf(w, "threshold: %d\n", d.RequiredSignatures())
			for _, id := range p.Signers {
				fmt.Fprintf(w, "signed by: %s (%s)\n", id, names[id])
			}
			return nil
		},
	}
	cmd.Flags().StringArrayVar(&roots, "root", nil, "a trusted root public key file (policy.pub; repeatable)")
	cmd.Flags().StringVar(&network, "network", "", "refuse a policy for any other network")
	cmd.Flags().IntVar(&minThreshold, "min-threshold", 0, "require at least this many distinct root keys, whatever the policy's own threshold")
	cmd.MarkFlagRequired("root")
	return cmd
}

func newPolicyApplyCommand() *cobra.Command {
	var (
		nodeURL string
		timeout time.Duration
	)
	cmd := &cobra.Command{
		Use:   "apply [--node URL] SIGNED",
		Short: "Install a signed policy on a running node",
		Long: `Send a signed policy to a node (PUT <node>/shoal/v1/policy). The node makes
the same checks as verify, refuses a version not above the one it holds,
stores the policy durably and passes it on to its peers, which check it
for themselves. Prints the node's answer ({"version":N,"digest":"sha256:…"});
exits 1 with the node's reason when it refuses.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			api, err := nodeClient(nodeURL)
			if err != nil {
				return err
			}
			b, err := readPolicyFile(args[0])
			if err != nil {
				return err
			}
			// Catch a wrong file here rather than as a node's 400.
			if _, err := policy.ParseEnvelope(b); err != nil {
				return fmt.Errorf("%s is not a signed policy (sign it with shoal policy sign): %w", args[0], err)
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			answer, err := api.PutPolicy(ctx, b)
			if err != nil {
				return fmt.Errorf("policy apply: %w", err)
			}
			out, err := json.Marshal(answer)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), string(out))
			return nil
		},
	}
	cmd.Flags().StringVar(&nodeURL, "node", defaultNodeURL, "base URL of the node")
	cmd.Flags().DurationVar(&timeout, "timeout", time.Minute, "how long to wait for the node")
	return cmd
}

func newPolicyHashPasswordCommand() *cobra.Command {
	var cost int
	cmd := &cobra.Command{
		Use:   "hash-password",
		Short: "Print the bcrypt hash of a password, for a policy's password_hash",
		Long: `Read a password and print its bcrypt hash, to paste into an identity's
password_hash. From a terminal the password is asked for twice without
echo; otherwise the first line of stdin is the password (e.g.
printf '%s\n' "$PW" | shoal policy hash-password). bcrypt uses at most 72 bytes;
longer passwords are refused.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			pw, err := readPassword(cmd)
			if err != nil {
				return err
			}
			h, err := bcrypt.GenerateFromPassword(pw, cost)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), string(h))
			return nil
		},
	}
	cmd.Flags().IntVar(&cost, "cost", bcrypt.DefaultCost, "bcrypt cost (4-31); each step doubles the time a check takes")
	return cmd
}

func readPassword(cmd *cobra.Command) ([]byte, error) {
	var pw []byte
	if f, ok := cmd.InOrStdin().(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(cmd.ErrOrStderr(), "password: ")
		first, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(cmd.ErrOrStderr())
		if err != nil {
			return nil, err
		}
		fmt.Fprint(cmd.ErrOrStderr(), "again: ")
		second, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(cmd.ErrOrStderr())
		if err != nil {
			return nil, err
		}
		if !bytes.Equal(first, second) {
			return nil, errors.New("the passwords differ")
		}
		pw = first
	} else {
		line, err := bufio.NewReader(io.LimitReader(cmd.InOrStdin(), 4096)).ReadBytes('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, err
		}
		pw = bytes.TrimRight(line, "\r\n")
	}
	if len(pw) == 0 {
		return nil, errors.New("empty password")
	}
	if len(pw) > 72 {
		return nil, errors.New("password longer than the 72 bytes bcrypt uses")
	}
	return pw, nil
}

// readPolicyFile reads a policy or envelope, bounded like the node bounds
// what it takes.
func readPolicyFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, policy.MaxEnvelopeSize+1))
	if err != nil {
		return nil, err
	}
	if len(b) > policy.MaxEnvelopeSize {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, policy.MaxEnvelopeSize)
	}
	return b, nil
}
