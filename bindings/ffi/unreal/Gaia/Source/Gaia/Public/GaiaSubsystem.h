// A game-instance subsystem owning one Gaia engine, with a Blueprint-callable
// sample that generates a texture without blocking the game thread.
#pragma once

#include "CoreMinimal.h"
#include "Subsystems/GameInstanceSubsystem.h"
#include "GaiaSubsystem.generated.h"

class UTexture2D;
struct GaiaEngine;

DECLARE_DYNAMIC_DELEGATE_TwoParams(FGaiaTextureDone, UTexture2D*, Texture, const FString&, Error);

UCLASS()
class GAIA_API UGaiaSubsystem : public UGameInstanceSubsystem
{
	GENERATED_BODY()

public:
	virtual void Initialize(FSubsystemCollectionBase& Collection) override;
	virtual void Deinitialize() override;

	/** Generates an image (wire-format request JSON built from the arguments);
	 *  OnDone runs on the game thread with the texture or the error "code: message". */
	UFUNCTION(BlueprintCallable, Category = "Gaia")
	void GenerateTexture(const FString& Prompt, int32 Width, int32 Height, bool bTileable, FGaiaTextureDone OnDone);

	GaiaEngine* NativeEngine() const { return Engine; }

private:
	GaiaEngine* Engine = nullptr;
};
