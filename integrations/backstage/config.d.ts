export interface Config {
  /** Where Backstage's scaffolder reaches Gantry's intake service. */
  gantry: {
    /**
     * intake's gRPC address: `http://host:port` (plaintext, e.g. on a cluster
     * network or a sidecar) or `https://host[:port]` (TLS).
     * @visibility backend
     */
    baseUrl: string;
    /**
     * Bearer token of Backstage's service account in Gantry
     * (`gantry admin token create --subject backstage --groups backstage`).
     * @visibility secret
     */
    token: string;
    tls?: {
      /**
       * PEM file of the CA that signed intake's certificate, when it is not
       * in the system's roots.
       * @visibility backend
       */
      caFile?: string;
    };
    /**
     * Link to a request for people, `{requestId}` replaced, e.g.
     * `https://gantry.example.com/requests/{requestId}`; no link when unset.
     * @visibility backend
     */
    requestUrlTemplate?: string;
    /**
     * Deadline of each call to intake, in seconds (default 30).
     * @visibility backend
     */
    callTimeoutSeconds?: number;
  };
}
