import NIOCore
import NIOPosix
import Logging
import ArgumentParser
import ServiceLifecycle
import Shared
print(PooldVersion.version)
