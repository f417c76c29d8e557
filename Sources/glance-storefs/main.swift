import Foundation
import StorefsCLI

exit(StorefsCLI.main(Array(CommandLine.arguments.dropFirst())))
