// The Response side records the identity of the snapshots it wrote the same way (exchange/file-identity.ts).
export { identityOf, identityOfStats } from '../../exchange/file-identity.js';
