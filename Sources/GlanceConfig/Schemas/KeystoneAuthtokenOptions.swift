/// `[keystone_authtoken]`: the service credentials glance-api itself authenticates with
/// (keystonemiddleware's options and keystoneauth's password plugin). glance-storefs reads them to
/// ask Glance's API what its catalogue records; Glance needs them anyway, so nothing new is configured.
public enum KeystoneAuthtokenOptions {
    public static let section = "keystone_authtoken"
    public static let authURL = Option<String?>.string("auth_url")
    public static let authType = Option<String?>.string("auth_type", deprecatedNames: ["auth_plugin"])
    public static let username = Option<String?>.string("username", deprecatedNames: ["user_name"])
    public static let userID = Option<String?>.string("user_id")
    public static let password = Option<String?>.string("password", secret: true)
    public static let projectName = Option<String?>.string("project_name", deprecatedNames: ["tenant_name"])
    public static let projectID = Option<String?>.string("project_id", deprecatedNames: ["tenant_id"])
    public static let userDomainName = Option<String?>.string("user_domain_name")
    public static let userDomainID = Option<String?>.string("user_domain_id")
    public static let projectDomainName = Option<String?>.string("project_domain_name")
    public static let projectDomainID = Option<String?>.string("project_domain_id")
    public static let regionName = Option<String?>.string("region_name")
    /// keystonemiddleware's endpoint interface; unset, glance-storefs tries internal, then public.
    public static let interface = Option<String?>.string("interface")
    public static let cafile = Option<String?>.string("cafile")
    public static let insecure = Option<Bool>.bool("insecure", default: false)
    /// `[paste_deploy] flavor`: without `keystone` in it, Glance runs without authentication.
    public static let flavor = Option<String?>.string("flavor")
}
