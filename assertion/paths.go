package assertion

// JWKSPath is where every scimgate enforcement point that signs
// assertions publishes its keys, on every host it serves.
const JWKSPath = "/.scimgate/jwks.json"
