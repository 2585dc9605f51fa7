Write-Output "starting"
