#include "GaiaSubsystem.h"

#include "Async/Async.h"
#include "Dom/JsonObject.h"
#include "Engine/Texture2D.h"
#include "IImageWrapper.h"
#include "IImageWrapperModule.h"
#include "Misc/Paths.h"
#include "Modules/ModuleManager.h"
#include "Serialization/JsonReader.h"
#include "Serialization/JsonSerializer.h"

#include "gaia.h"

IMPLEMENT_MODULE(FDefaultModuleImpl, Gaia)

namespace
{
FString TakeError(GaiaError* Error)
{
	FString Text = Error ? FString::Printf(TEXT("%s: %s"), UTF8_TO_TCHAR(gaia_error_code(Error)),
	                                       UTF8_TO_TCHAR(gaia_error_message(Error)))
	                     : TEXT("internal: no error object");
	gaia_error_free(Error);
	return Text;
}

/** What the completion callback needs; owned by the callback. */
struct FPending
{
	GaiaEngine* Engine;
	TWeakObjectPtr<UGaiaSubsystem> Owner;
	FGaiaTextureDone OnDone;
	bool bTileable;
};

UTexture2D* DecodePng(const TArray<uint8>& Bytes, bool bTileable)
{
	IImageWrapperModule& Wrappers = FModuleManager::LoadModuleChecked<IImageWrapperModule>("ImageWrapper");
	TSharedPtr<IImageWrapper> Png = Wrappers.CreateImageWrapper(EImageFormat::PNG);
	TArray<uint8> Raw;
	if (!Png.IsValid() || !Png->SetCompressed(Bytes.GetData(), Bytes.Num()) || !Png->GetRaw(ERGBFormat::BGRA, 8, Raw))
	{
		return nullptr;
	}
	UTexture2D* Texture = UTexture2D::CreateTransient(Png->GetWidth(), Png->GetHeight(), PF_B8G8R8A8);
	void* Mip = Texture->GetPlatformData()->Mips[0].BulkData.Lock(LOCK_READ_WRITE);
	FMemory::Memcpy(Mip, Raw.GetData(), Raw.Num());
	Texture->GetPlatformData()->Mips[0].BulkData.Unlock();
	Texture->AddressX = bTileable ? TA_Wrap : TA_Clamp;
	Texture->AddressY = Texture->AddressX;
	Texture->UpdateResource();
	return Texture;
}

/** Runs on an engine thread: reads the bytes there, builds the texture on the game thread. */
void OnGenerated(void* UserData, int32_t Status, const char* AssetJson, const GaiaError* Error)
{
	TUniquePtr<FPending> Pending(static_cast<FPending*>(UserData));
	FString Failure;
	TArray<uint8> Bytes;
	if (Status != GAIA_OK)
	{
		Failure = FString::Printf(TEXT("%s: %s"), UTF8_TO_TCHAR(gaia_error_code(Error)), UTF8_TO_TCHAR(gaia_error_message(Error)));
	}
	else
	{
		TSharedPtr<FJsonObject> Asset;
		const TSharedRef<TJsonReader<>> Reader = TJsonReaderFactory<>::Create(UTF8_TO_TCHAR(AssetJson));
		FJsonSerializer::Deserialize(Reader, Asset);
		const FString Id = Asset.IsValid() ? Asset->GetStringField(TEXT("id")) : FString();
		uint8_t* Data = nullptr;
		size_t Len = 0;
		GaiaError* ReadError = nullptr;
		if (gaia_read_bytes(Pending->Engine, TCHAR_TO_UTF8(*Id), &Data, &Len, &ReadError) == GAIA_OK)
		{
			Bytes.Append(Data, static_cast<int32>(Len));
			gaia_bytes_free(Data, Len);
		}
		else
		{
			Failure = TakeError(ReadError);
		}
	}
	AsyncTask(ENamedThreads::GameThread, [Pending = MoveTemp(Pending), Bytes = MoveTemp(Bytes), Failure]()
	{
		if (!Pending->Owner.IsValid())
		{
			return;
		}
		UTexture2D* Texture = Failure.IsEmpty() ? DecodePng(Bytes, Pending->bTileable) : nullptr;
		Pending->OnDone.ExecuteIfBound(Texture, Texture ? FString() : (Failure.IsEmpty() ? TEXT("invalid_output: not a PNG") : Failure));
	});
}
} // namespace

void UGaiaSubsystem::Initialize(FSubsystemCollectionBase& Collection)
{
	Super::Initialize(Collection);
	if (gaia_abi_version() != GAIA_ABI_VERSION)
	{
		UE_LOG(LogTemp, Error, TEXT("Gaia: library ABI %u, header %u"), gaia_abi_version(), GAIA_ABI_VERSION);
		return;
	}
	const FString Path = FPaths::Combine(FPaths::ProjectSavedDir(), TEXT("Gaia"));
	const FString Config = FString::Printf(TEXT("{\"path\":\"%s\"}"), *Path.ReplaceCharWithEscapedChar());
	GaiaError* Error = nullptr;
	if (gaia_engine_open(TCHAR_TO_UTF8(*Config), &Engine, &Error) != GAIA_OK)
	{
		UE_LOG(LogTemp, Error, TEXT("Gaia: %s"), *TakeError(Error));
	}
}

void UGaiaSubsystem::Deinitialize()
{
	// Pending completions are called with the "closed" error first.
	gaia_engine_free(Engine);
	Engine = nullptr;
	Super::Deinitialize();
}

void UGaiaSubsystem::GenerateTexture(const FString& Prompt, int32 Width, int32 Height, bool bTileable, FGaiaTextureDone OnDone)
{
	const FString Request = FString::Printf(
		TEXT("{\"client_id\":\"unreal\",\"spec\":{\"kind\":\"image\",\"prompt\":\"%s\",\"width\":%d,\"height\":%d,\"tileable\":%s}}"),
		*Prompt.ReplaceCharWithEscapedChar(), Width, Height, bTileable ? TEXT("true") : TEXT("false"));
	FPending* Pending = new FPending{Engine, this, OnDone, bTileable};
	GaiaError* Error = nullptr;
	if (gaia_generate_async(Engine, TCHAR_TO_UTF8(*Request), OnGenerated, Pending, nullptr, &Error) != GAIA_OK)
	{
		delete Pending;
		OnDone.ExecuteIfBound(nullptr, TakeError(Error));
	}
}
