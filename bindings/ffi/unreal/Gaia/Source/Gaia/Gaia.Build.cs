// Links the Gaia C ABI (libgaia_ffi) from Source/ThirdParty/GaiaFfi: the
// header in include/ (copied from bindings/ffi/include/gaia.h) and the
// library built per platform (see bindings/ffi/README.md).
using System.IO;
using UnrealBuildTool;

public class Gaia : ModuleRules
{
    public Gaia(ReadOnlyTargetRules Target) : base(Target)
    {
        PCHUsage = PCHUsageMode.UseExplicitOrSharedPCHs;
        PublicDependencyModuleNames.AddRange(new[] { "Core", "CoreUObject", "Engine", "Json" });

        string ThirdParty = Path.GetFullPath(Path.Combine(ModuleDirectory, "..", "ThirdParty", "GaiaFfi"));
        PublicIncludePaths.Add(Path.Combine(ThirdParty, "include"));

        if (Target.Platform == UnrealTargetPlatform.Win64)
        {
            string Lib = Path.Combine(ThirdParty, "lib", "Win64");
            PublicAdditionalLibraries.Add(Path.Combine(Lib, "gaia_ffi.dll.lib"));
            PublicDelayLoadDLLs.Add("gaia_ffi.dll");
            RuntimeDependencies.Add("$(BinaryOutputDir)/gaia_ffi.dll", Path.Combine(Lib, "gaia_ffi.dll"));
        }
        else if (Target.Platform == UnrealTargetPlatform.Linux)
        {
            string Lib = Path.Combine(ThirdParty, "lib", "Linux", "libgaia_ffi.so");
            PublicAdditionalLibraries.Add(Lib);
            RuntimeDependencies.Add("$(BinaryOutputDir)/libgaia_ffi.so", Lib);
        }
        else if (Target.Platform == UnrealTargetPlatform.Mac)
        {
            string Lib = Path.Combine(ThirdParty, "lib", "Mac", "libgaia_ffi.dylib");
            PublicDelayLoadDLLs.Add(Lib);
            RuntimeDependencies.Add("$(BinaryOutputDir)/libgaia_ffi.dylib", Lib);
        }
    }
}
