package ca

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/hex"
	"fmt"
	"strings"
)

// Join tokens are one-time secrets for a node's first call, before it has
// a certificate. The store keeps only the hash, so a leaked store (an etcd
// backup) does not let anyone join as the node. The token carries 160
// random bits, so a plain SHA-256 is enough; a slow password hash would
// add nothing against guessing.
const (
	tokenPrefix     = "pcrjoin-"
	tokenSecretLen  = 32 // base32 chars: 20 random bytes, no padding
	tokenSecretRaw  = 20
	tokenHashPrefix = "sha256:"
)

// NewJoinToken makes a token "pcrjoin-<node>-<32 random base32 chars>" and
// the hash to store. The node name is in the clear so the authority knows
// which hash to compare against without trying them all.
func NewJoinToken(node string) (token, hash string, err error) {
	if !validName(node) {
		return "", "", fmt.Errorf("new join token: invalid node name %q: want 1-63 of a-z 0-9 . _ - starting with a letter or digit", node)
	}
	raw := make([]byte, tokenSecretRaw)
	if _, err := rand.Read(raw); err != nil {
		return "", "", fmt.Errorf("new join token for %s: %w", node, err)
	}
	// Lower case to match the rest of the token; no padding since 20
	// bytes are exactly 32 base32 characters.
	secret := strings.ToLower(base32.StdEncoding.EncodeToString(raw))
	token = tokenPrefix + node + "-" + secret
	return token, hashToken(token), nil
}

// TokenNode says which node a token is for, checking only its shape. Node
// names may hold '-', so the secret is taken from the end.
func TokenNode(token string) (string, error) {
	rest, ok := strings.CutPrefix(token, tokenPrefix)
	if !ok || len(rest) < tokenSecretLen+2 || rest[len(rest)-tokenSecretLen-1] != '-' {
		return "", fmt.Errorf("malformed join token: want pcrjoin-<node>-<secret>")
	}
	node, secret := rest[:len(rest)-tokenSecretLen-1], rest[len(rest)-tokenSecretLen:]
	if !validName(node) {
		return "", fmt.Errorf("malformed join token: invalid node name %q", node)
	}
	for _, ch := range secret {
		if !(ch >= 'a' && ch <= 'z' || ch >= '2' && ch <= '7') {
			return "", fmt.Errorf("malformed join token for %s: secret is not base32", node)
		}
	}
	return node, nil
}

// CheckJoinToken says whether token hashes to hash, in constant time so
// that the comparison leaks nothing about how much of the hash matched.
func CheckJoinToken(token, hash string) bool {
	if _, err := TokenNode(token); err != nil {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(hashToken(token)), []byte(hash)) == 1
}

func hashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return tokenHashPrefix + hex.EncodeToString(sum[:])
}
